"""The generated examples kept in output/: one list, one function, used by the tests too.

Regenerate with ``python -m derive.examples`` after changing the generator.
"""

from __future__ import annotations

import sys
from pathlib import Path

from derive.derivation import derive
from derive.render import render
from derive.spec import load_spec

#: (preset, format) of every file in output/.
EXAMPLES = (("two-two-two", "md"), ("slp-identity", "md"))


def generate() -> dict[str, str]:
    """File name → content of every example."""
    files = {}
    for preset, fmt in EXAMPLES:
        files[f"{preset}.{fmt}"] = render(derive(load_spec(preset)), fmt=fmt)
    return files


def regenerate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "output"
    for path in regenerate(target):
        print(path)
