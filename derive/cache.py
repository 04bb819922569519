"""derive's per-user cache directory: work that is the same on every run, kept between runs.

``$XDG_CACHE_HOME/derive`` (else ``~/.cache/derive``), made readable and writable by this user
alone. What is kept there (``sympy.diff`` of a composed loss, the tables of the LaTeX reader's
parser) is used only while the directory is this user's and no one else may write it; a cache
that cannot be made or trusted is simply not used: everything is computed afresh.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def user_cache_dir(*parts: str) -> Path | None:
    """The directory ``parts`` under derive's cache, made if needed; None when it cannot be made or trusted."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base, "derive", *parts)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        top = Path(base, "derive")
        for d in (top, path):
            info = d.lstat()
            mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
            if not stat.S_ISDIR(info.st_mode) or not mine or info.st_mode & 0o022:
                return None  # a link, someone else's, or writable by others: not trusted
    except OSError:
        return None
    return path
