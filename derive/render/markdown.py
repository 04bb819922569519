"""The Markdown that derive's templates emit, read back as blocks for the LaTeX and HTML writers.

Only that subset: ``#`` headings, paragraphs (several lines), ``-`` list items (with indented
continuation lines), pipe tables, ``$$`` displays (one line or several), ``---`` rules, and
pictures: a line ``![caption](file)`` on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    kind: str
    """``heading``, ``paragraph``, ``item``, ``table``, ``display``, ``rule`` or ``image``."""
    text: str = ""
    level: int = 0
    rows: tuple[tuple[str, ...], ...] = ()
    """For a table: the header row, then the body rows (cells as Markdown text)."""
    target: str = ""
    """For an image: the file it shows (``text`` is its caption)."""


def _is_text(line: str) -> bool:
    s = line.strip()
    return bool(s) and not line.startswith(("#", "- ", "  ")) and not s.startswith(("|", "$$", "![")) and s != "---"


def cells(row: str) -> tuple[str, ...]:
    """The cells of a pipe-table row; a | inside $math$ or escaped as \\| stays in its cell."""
    out, current, in_math = [], "", False
    body = row.strip()[1:]
    body = body[:-1] if body.endswith("|") else body
    for ch in body:
        if ch == "$" and not current.endswith("\\"):
            in_math = not in_math
        if ch == "|" and not in_math and not current.endswith("\\"):
            out.append(current.strip())
            current = ""
        else:
            current += ch
    out.append(current.strip())
    return tuple(c.replace("\\|", "|") for c in out)


def parse(markdown: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("$$") and (len(stripped) == 2 or not stripped.endswith("$$")):
            math = [stripped[2:]]
            i += 1
            while i < len(lines) and not lines[i].strip().endswith("$$"):
                math.append(lines[i])
                i += 1
            if i < len(lines):
                math.append(lines[i].strip()[:-2])
            blocks.append(Block("display", "\n".join(m for m in math if m.strip()).strip()))
        elif stripped.startswith("$$"):
            blocks.append(Block("display", stripped[2:-2].strip()))
        elif m := re.match(r"(#{1,4}) (.*)", line):
            blocks.append(Block("heading", m.group(2), level=len(m.group(1))))
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            parsed = [cells(r) for r in rows]
            blocks.append(Block("table", rows=(parsed[0], *parsed[2:])))
            continue
        elif line.startswith("- "):
            item = [line[2:]]
            while i + 1 < len(lines) and lines[i + 1].startswith("  "):
                i += 1
                item.append(lines[i].strip())
            blocks.append(Block("item", "\n".join(item)))
        elif m := re.fullmatch(r"!\[(.*)\]\(([^()\s]+)\)", stripped):
            blocks.append(Block("image", m.group(1), target=m.group(2)))
        elif stripped == "---":
            blocks.append(Block("rule"))
        elif stripped:
            paragraph = [line]
            while i + 1 < len(lines) and _is_text(lines[i + 1]):
                i += 1
                paragraph.append(lines[i])
            blocks.append(Block("paragraph", "\n".join(paragraph)))
        i += 1
    return blocks


def sections(markdown: str) -> list[tuple[str | None, str]]:
    """(heading, text) of each part of a page cut before its ``##`` headings; the part before the
    first one has heading None. Each text keeps its heading line and ends in one newline."""
    out = []
    for chunk in re.split(r"(?m)^(?=## )", markdown):
        if chunk.strip():
            heading = chunk.partition("\n")[0][3:].strip() if chunk.startswith("## ") else None
            out.append((heading, chunk.strip("\n") + "\n"))
    return out


def split_displays(text: str) -> list[tuple[str, str]]:
    """A paragraph or item as ("text", …) and ("display", …) runs (a ``$$…$$`` inside a line)."""
    out = []
    for part in re.split(r"(\$\$.+?\$\$)", text, flags=re.S):
        if part.startswith("$$") and part.endswith("$$") and len(part) > 4:
            out.append(("display", part[2:-2].strip()))
        elif part.strip():
            out.append(("text", part))
    return out


def split_inline(text: str) -> list[tuple[str, str]]:
    """Text as ("math", …), ("code", …) and ("text", …) runs. A text run keeps its backslash
    escapes (``\\$`` is a dollar sign, not math); the writers make them literal."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"(\\[!-/:-@\[-`{-~]|\$[^$]+\$|`[^`]*`)", text):
        if part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(("math", part[1:-1]))
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(("code", part[1:-1]))
        elif part and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + part)
        elif part:
            out.append(("text", part))
    return out


def write(markdown: str, writer) -> list[str]:
    """Walk the blocks once; ``writer`` supplies one method per kind of block (and list_open/close).

    The ``#`` title is left out: the document around the body writes it.
    """
    out: list[str] = []
    in_list = False
    for block in parse(markdown):
        if in_list and block.kind != "item":
            out.append(writer.list_close())
            in_list = False
        if block.kind == "heading" and block.level == 1:
            continue
        if block.kind == "item" and not in_list:
            out.append(writer.list_open())
            in_list = True
        out.append(getattr(writer, block.kind)(block))
    if in_list:
        out.append(writer.list_close())
    return out
