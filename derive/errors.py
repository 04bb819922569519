"""Every error `derive` raises on purpose; the CLI turns them into one line and an exit status."""

from __future__ import annotations


class DeriveError(Exception):
    """Base class: a message fit for one line of a terminal."""

    exit_status = 2


class SpecError(DeriveError):
    """A spec (or an answers file) that cannot be used: names the source and the field."""

    def __init__(self, source: str, field: str, message: str):
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class UsageError(DeriveError):
    """A command-line request that cannot be satisfied (unknown preset, unwritable directory)."""


class CheckFailed(DeriveError):
    """An independent check disagrees with the derivation: a bug in derive, never the user's."""

    exit_status = 3
