"""Reading the files a command is given (never more than a limit) and writing the files it makes."""

from __future__ import annotations

from pathlib import Path

from derive.errors import DeriveError


def save(out_dir: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Write name → content under out_dir (names may contain folders); one DeriveError when it cannot."""
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise DeriveError(f"{out_dir}: cannot write ({exc.strerror})") from None
    return written


def read_bounded(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path``, or None when it holds more than ``limit`` (at most limit + 1 bytes are read,
    so a 5 GB file costs no more than a small one). Raises OSError as ``open`` does."""
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    return None if len(raw) > limit else raw
