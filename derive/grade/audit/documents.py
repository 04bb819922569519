"""Read a derivation written by anyone into pieces of prose, math, code and program output.

Markdown (and plain text, which is read as Markdown), LaTeX, HTML and Jupyter notebooks. Every
piece keeps the line of the original file it starts on (for a notebook: the line of the JSON
file its source string stands on), so a report can point at it.

Hostile input is refused with one line (:class:`DocumentError`, exit status 2): more than
:data:`MAX_BYTES`, not UTF-8, binary, a notebook that is not JSON or nested too deeply.
"""

from __future__ import annotations

import bisect
import html
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from derive.errors import DeriveError

MAX_BYTES = 2_000_000
"""Larger documents are refused: a derivation is a few hundred kilobytes at most."""
MAX_LINE = 20_000
"""Longer lines are read as blank (a minified blob or a wall of digits, not a derivation)."""
MAX_JSON_DEPTH = 64
FORMATS = ("md", "tex", "html", "ipynb", "text")


class DocumentError(DeriveError):
    """A document that cannot be read: names the file and what is wrong."""


@dataclass
class Piece:
    kind: str
    """``prose``, ``math``, ``code``, ``output`` (printed by a program) or ``heading``."""
    text: str
    line: int
    """The line of the original file the piece starts on (1-based)."""
    display: bool = False
    """Math set on its own (``$$…$$``, an environment), not inline."""
    lines: list[int] = field(default_factory=list)
    """For a piece of several lines: the original line of each (empty: consecutive from ``line``)."""

    def line_at(self, offset: int) -> int:
        """The original line of the character at ``offset`` of :attr:`text`."""
        starts = self.__dict__.get("_starts")
        if starts is None:
            starts = self.__dict__["_starts"] = [m.end() for m in re.finditer("\n", self.text)]
        k = bisect.bisect_right(starts, max(offset, 0))
        if self.lines:
            return self.lines[min(k, len(self.lines) - 1)]
        return self.line + k


@dataclass
class Document:
    source: str
    format: str
    blocks: list[list[Piece]]
    """Paragraphs (prose with its inline math), display math, code blocks (code and output)."""
    text_lines: dict[int, str]
    """The original text of each line, for reports."""

    def pieces(self):
        for block in self.blocks:
            yield from block

    def line_text(self, line: int, around: str = "", width: int = 160) -> str:
        """The line as written (around ``around`` when it is longer than ``width`` characters)."""
        text = " ".join(self.text_lines.get(line, "").split())
        if len(text) <= width:
            return text
        at = text.find(around) if around else -1
        if at < 0:
            return text[:width - 3] + "..."
        start = max(0, min(at - width // 2, len(text) - width + 3))
        return ("..." if start else "") + text[start:start + width - 6] + "..."


# --------------------------------------------------------------------------- entry point


def read_document(path: str | Path, fmt: str | None = None) -> Document:
    """Read ``path`` (format from its extension, else sniffed) or raise :class:`DocumentError`."""
    p = Path(path)
    name = str(path)
    try:
        if p.is_dir():
            raise DocumentError(f"{name}: a directory, not a document")
        if not p.is_file():
            raise DocumentError(f"{name}: no such file")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise DocumentError(f"{name}: {size} bytes; documents of at most {MAX_BYTES} bytes are read")
        raw = p.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    return parse_document(raw, name, fmt)


def parse_document(raw: bytes, name: str, fmt: str | None = None) -> Document:
    if len(raw) > MAX_BYTES:
        raise DocumentError(f"{name}: {len(raw)} bytes; documents of at most {MAX_BYTES} bytes are read")
    if b"\x00" in raw[:65536]:
        raise DocumentError(f"{name}: a binary file, not a document (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fmt = fmt or sniff(name, text)
    if fmt not in FORMATS:
        raise DocumentError(f"{name}: unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    lines = text.split("\n")
    text_lines = {k + 1: (line if len(line) <= MAX_LINE else "") for k, line in enumerate(lines)}
    numbered = [(k, t) for k, t in text_lines.items()]
    if fmt == "ipynb":
        blocks = read_notebook(text, name)
    elif fmt == "tex":
        blocks = read_latex(numbered)
    elif fmt == "html":
        blocks = read_html(text, name)
    else:
        blocks = read_markdown(numbered)
    return Document(source=name, format=fmt, blocks=[b for b in blocks if b], text_lines=text_lines)


def sniff(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    by_suffix = {".md": "md", ".markdown": "md", ".tex": "tex", ".latex": "tex", ".html": "html", ".htm": "html",
                 ".ipynb": "ipynb", ".txt": "text"}
    if suffix in by_suffix and suffix != ".txt":
        return by_suffix[suffix]
    head = text[:4000].lstrip()
    if head.startswith("{") and '"cells"' in text[:100000]:
        return "ipynb"
    if head[:200].lower().startswith(("<!doctype html", "<html")):
        return "html"
    if "\\documentclass" in head or "\\begin{document}" in text[:100000]:
        return "tex"
    return "md" if suffix != ".txt" else "text"


# --------------------------------------------------------------------------- Markdown


_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
#: Markdown, HTML and Liquid that carry no derivation: blanked out (same length, so offsets stay).
_NOISE = re.compile(r"<!--.*?-->|\{%.*?%\}|\{\{.*?\}\}|\]\([^)\s]*(?:\s+\"[^\"]*\")?\)|<[A-Za-z/!][^<>]*>"
                    r"|https?://\S+", re.S)
#: Math in Markdown and LaTeX: display first, then inline.
_MATH = re.compile(
    r"(?<!\\)\$\$(?P<dd>.+?)(?<!\\)\$\$"
    r"|\\\[(?P<br>.+?)\\\]"
    r"|\\begin\{(?P<env>equation|align|aligned|gather|multline|eqnarray|displaymath|math|flalign)(?P<star>\*?)\}"
    r"(?P<body>.*?)\\end\{(?P=env)(?P=star)\}"
    r"|\\\((?P<pa>.+?)\\\)"
    r"|(?<![\\$])\$(?P<d>[^$\n]+?)(?<!\\)\$(?!\$)", re.S)


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _prose_and_math(text: str, first_line: int, lines: list[int], headings: set[int]) -> list[list[Piece]]:
    """Split running text (Markdown or LaTeX prose) into paragraphs with inline math, and display math."""
    blocks: list[list[Piece]] = []
    paragraph: list[Piece] = []
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(offset: int) -> int:
        k = bisect.bisect_right(starts, offset) - 1
        return lines[k] if k < len(lines) else lines[-1]

    def piece(kind: str, start: int, end: int, display=False) -> Piece:
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(end - 1, start)) - 1
        return Piece(kind, text[start:end], line_of(start), display, lines[first:last + 1])

    def prose(start: int, end: int) -> None:
        nonlocal paragraph
        pos = start
        for m in re.finditer(r"\n[ \t]*\n", text[start:end]):
            if text[pos:start + m.start()].strip():
                paragraph.append(piece("prose", pos, start + m.start()))
            if paragraph:
                blocks.append(paragraph)
                paragraph = []
            pos = start + m.end()
        if text[pos:end].strip():
            paragraph.append(piece("prose", pos, end))

    pos = 0
    for m in _MATH.finditer(text):
        prose(pos, m.start())
        name = m.lastgroup
        body_start = m.start(name if name != "env" else "body")
        body_end = m.end(name if name != "env" else "body")
        display = name in ("dd", "br", "env")
        p = piece("math", body_start, body_end, display)
        if display:
            if paragraph:
                blocks.append(paragraph)
                paragraph = []
            blocks.append([p])
        else:
            paragraph.append(p)
        pos = m.end()
    prose(pos, len(text))
    if paragraph:
        blocks.append(paragraph)
    present = set(lines)
    blocks += [[Piece("heading", "", h)] for h in sorted(headings) if h in present]
    blocks.sort(key=lambda b: b[0].line)
    return blocks


def read_markdown(numbered: list[tuple[int, str]]) -> list[list[Piece]]:
    blocks: list[list[Piece]] = []
    run: list[tuple[int, str]] = []
    code: list[Piece] | None = None
    fence = ""
    headings: set[int] = set()

    def flush() -> None:
        if run:
            text = "\n".join(t for _, t in run)
            text = _NOISE.sub(_blank, text)
            blocks.extend(_prose_and_math(text, run[0][0], [k for k, _ in run], headings))
            run.clear()

    for k, line in numbered:
        m = _FENCE.match(line)
        if code is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):].strip():
                blocks.append(code)
                code = None
                continue
            stripped = line.strip()
            if stripped.startswith(">>>") and _looks_like_output(stripped[3:]):
                code.append(Piece("output", stripped[3:].strip(), k))
            else:
                code.append(Piece("code", line, k))
            continue
        if m:
            flush()
            code, fence = [], m.group(1)
            continue
        if _HEADING.match(line):
            flush()
            headings.add(k)
            blocks.append([Piece("heading", line.strip(), k)])
            continue
        run.append((k, line))
    flush()
    if code:
        blocks.append(code)
    return blocks


def _looks_like_output(text: str) -> bool:
    """``>>> 0.73`` is the output of the line before it (blog style); ``>>> x = 1`` is code (doctest style)."""
    t = text.strip()
    return not re.match(r"^(print\s*\(|import\s|from\s|def\s|for\s|[A-Za-z_][\w.]*\s*(=|\+=|-=)[^=])", t)


# --------------------------------------------------------------------------- LaTeX


_TEX_COMMENT = re.compile(r"(?<!\\)%.*")
_TEX_CODE = re.compile(r"\\begin\{(verbatim|lstlisting|minted|Verbatim)\}(.*?)\\end\{\1\}", re.S)
_TEX_HEADING = re.compile(r"\\(part|chapter|section|subsection|subsubsection|paragraph)\*?\{")


def read_latex(numbered: list[tuple[int, str]]) -> list[list[Piece]]:
    lines = [k for k, _ in numbered]
    text = "\n".join(_TEX_COMMENT.sub(lambda m: " " * len(m.group(0)), t) for _, t in numbered)
    begin = text.find("\\begin{document}")
    if begin >= 0:
        text = re.sub(r"[^\n]", " ", text[:begin + len("\\begin{document}")]) + text[begin + len("\\begin{document}"):]
    blocks: list[list[Piece]] = []
    code_starts = []
    for m in _TEX_CODE.finditer(text):
        first = text.count("\n", 0, m.start(2))
        body = m.group(2).split("\n")
        block = [Piece("code", t, lines[min(first + i, len(lines) - 1)]) for i, t in enumerate(body)]
        code_starts.append(block)
    text = _TEX_CODE.sub(_blank, text)
    headings = {lines[text.count("\n", 0, m.start())] for m in _TEX_HEADING.finditer(text)}
    prose_blocks = _prose_and_math(text, lines[0] if lines else 1, lines or [1], headings)
    blocks = prose_blocks + code_starts
    blocks.sort(key=lambda b: b[0].line)
    return blocks


# --------------------------------------------------------------------------- HTML


class _HTMLText(HTMLParser):
    """The text of a page with its original lines: prose (and the $…$ math in it), and <pre> as code."""

    BLOCK = {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "section", "br",
             "blockquote", "figure", "figcaption", "body", "article", "header", "footer", "main", "hr"}
    CELL = {"td", "th"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[int, str]] = []
        self.code: list[list[Piece]] = []
        self.headings: set[int] = set()
        self.skip = 0
        self.pre = 0
        self.math_script = False
        self.depth = 0
        self.math_elements: list[str] = []  # per open span/div: the delimiter it stands for ("" when none)

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        attrs = dict(attrs)
        if tag in ("script", "style", "svg", "math", "template", "noscript"):
            if tag == "script" and "math/tex" in (attrs.get("type") or ""):
                self.math_script = True
                self.chunks.append((line, " $$"))
                return
            self.skip += 1
            return
        if tag == "pre":
            self.pre += 1
            self.code.append([])
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.add(line)
        if tag in self.BLOCK:
            self.chunks.append((line, "\n\n"))
        elif tag in self.CELL:
            self.chunks.append((line, " | "))
        if tag in ("span", "div"):  # derive's pages: <span class="math">, <div class="math display">
            classes = (attrs.get("class") or "").split()
            delimiter = ("$$" if "display" in classes else "$") if "math" in classes else ""
            self.math_elements.append(delimiter)
            self.math_pending = bool(delimiter)  # opened at its text, unless that brings delimiters of its own

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self.chunks.append((self.getpos()[0], "\n\n"))

    def handle_endtag(self, tag):
        if tag in ("script", "style", "svg", "math", "template", "noscript"):
            if tag == "script" and self.math_script:
                self.math_script = False
                self.chunks.append((self.getpos()[0], "$$ "))
                return
            self.skip = max(0, self.skip - 1)
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
            return
        if tag in ("span", "div") and self.math_elements:
            delimiter = self.math_elements.pop()
            if delimiter and not getattr(self, "math_pending", False):
                self.chunks.append((self.getpos()[0], delimiter + " "))
            self.math_pending = False
        if tag in self.BLOCK:
            self.chunks.append((self.getpos()[0], "\n\n"))
        elif tag in self.CELL:
            self.chunks.append((self.getpos()[0], " | "))

    def handle_data(self, data):
        if self.skip and not self.math_script:
            return
        line = self.getpos()[0]
        if getattr(self, "math_pending", False) and data.strip():
            self.math_pending = False
            if data.lstrip().startswith(("\\[", "\\(", "$")):
                self.math_elements[-1] = ""
            else:
                self.chunks.append((line, " " + self.math_elements[-1]))
        if self.pre and self.code:
            for i, t in enumerate(data.split("\n")):
                if not t.strip():
                    continue
                s = t.strip()
                kind = "output" if s.startswith(">>>") and _looks_like_output(s[3:]) else "code"
                self.code[-1].append(Piece(kind, s[3:].strip() if kind == "output" else t, line + i))
            return
        self.chunks.append((line, data))


def read_html(text: str, name: str) -> list[list[Piece]]:
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser is lenient; this is a last resort
        raise DocumentError(f"{name}: HTML that cannot be read ({exc})") from None
    # Lay the text out again so that each chunk stands on its original line.
    out: list[str] = []
    current = 1
    for line, chunk in parser.chunks:
        if line > current:
            out.append("\n" * (line - current))
            current = line
        # newlines inside a chunk move on; tag breaks ("\n\n") are kept only as paragraph marks
        if chunk == "\n\n":
            out.append(" \u2029 ")
            continue
        out.append(chunk)
        current += chunk.count("\n")
    laid = "".join(out)
    blocks: list[list[Piece]] = []
    first = 1
    for part in laid.split("\u2029"):
        if part.strip():
            lines = list(range(first, first + part.count("\n") + 1))
            blocks.extend(_prose_and_math(part, first, lines, parser.headings))
        first += part.count("\n")
    blocks.extend(b for b in parser.code if b)
    blocks.sort(key=lambda b: b[0].line)
    return blocks


# --------------------------------------------------------------------------- notebooks


def _string_tokens(text: str) -> list[tuple[int, str]]:
    """Every JSON string of the file with the offset it starts at (the file is known to be valid JSON)."""
    out = []
    scan = json.decoder.scanstring
    pos = 0
    n = len(text)
    while True:
        pos = text.find('"', pos)
        if pos < 0 or pos >= n:
            return out
        value, end = scan(text, pos + 1)
        out.append((pos, value))
        pos = end


def _depth(value, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def read_notebook(text: str, name: str) -> list[list[Piece]]:
    try:
        nb = json.loads(text)
    except RecursionError:
        raise DocumentError(f"{name}: a notebook nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{name}: not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} "
                            f"({exc.msg})") from None
    if _depth(nb, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DocumentError(f"{name}: a notebook nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise DocumentError(f"{name}: not a notebook: no list of \"cells\"")
    tokens = _string_tokens(text)
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    cursor = 0

    def locate(s: str) -> int:
        """The line of the next JSON string equal to ``s`` (sources and outputs come in file order)."""
        nonlocal cursor
        for k in range(cursor, len(tokens)):
            if tokens[k][1] == s:
                cursor = k + 1
                return bisect.bisect_right(starts, tokens[k][0])
        return bisect.bisect_right(starts, tokens[cursor][0]) if cursor < len(tokens) else 1

    def parts(source) -> list[str]:
        if isinstance(source, str):
            return [source]
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            return source
        raise DocumentError(f"{name}: not a notebook: a cell's source is neither a string nor a list of strings")

    blocks: list[list[Piece]] = []
    for k, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            raise DocumentError(f"{name}: not a notebook: cell {k + 1} is not an object")
        kind = cell.get("cell_type")
        numbered: list[tuple[int, str]] = []
        for s in parts(cell.get("source", [])):
            line = locate(s)
            for i, t in enumerate(s.rstrip("\n").split("\n") if s else []):
                numbered.append((line, t))
        if kind == "markdown":
            blocks.extend(read_markdown(numbered))
        elif kind == "code":
            block = [Piece("code", t, line) for line, t in numbered]
            for out in cell.get("outputs", []) or []:
                if not isinstance(out, dict):
                    continue
                texts = out.get("text")
                if texts is None:
                    texts = (out.get("data") or {}).get("text/plain")
                if texts is None:
                    continue
                for s in parts(texts):
                    line = locate(s)
                    for t in s.rstrip("\n").split("\n"):
                        if t.strip():
                            block.append(Piece("output", t.strip(), line))
            blocks.append(block)
    return blocks
