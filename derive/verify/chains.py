r"""Find the chains of equations of a page (``a = b = c \approx d``) and check that each is true.

A *chain* is a run of members joined by relations (``=``, ``\approx``, ``\leftarrow``, ``<``, …),
read from one displayed or inline formula; the rows of an ``aligned`` environment that start with
``&=`` continue the chain above them, and a row that starts with ``+`` continues its last member.

A chain is true when every member that has a number equals the next one that has one, within the
precision the printed numbers claim (:func:`derive.verify.mathreader.interval`): two members agree
when their ranges overlap. Members joined only through ``\leftarrow``, ``<`` or the like are not
compared. A member that cannot be read or evaluated (a name without a value, a matrix, a sum with an
index) is skipped; the counts in :class:`ChainCheck` and :class:`PageCheck` show how much was checked.

The API:

- :func:`split_chain` ``(tex) -> list[Chain]``: the chains of one formula (a display's text).
- :func:`find_chains` ``(text, fmt) -> Iterator[tuple[int, Chain]]``: every chain of a page in
  ``md``, ``tex``, ``html``, ``ipynb`` or ``txt``, with the line (1-based) where it starts.
- :func:`check_chain` ``(chain, values, digits) -> ChainCheck``.
- :func:`check_page` ``(text, fmt, values, digits) -> PageCheck``.
- :func:`verify_page` ``(text, fmt, digits)``: raises :class:`FalseEquation` (exit status 3) naming
  the line and the chain of the first false one.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator, Mapping

from derive.errors import CheckFailed
from derive.verify.mathreader import MathSyntaxError, Num, Op, Unevaluable, _balanced, interval, parse_math

#: A formula longer than this (characters) is not split into chains (it is reported as unreadable).
MAX_FORMULA = 200_000

#: Relations between members; the ones chains compare are ``=`` and ``≈``.
RELATIONS = {"=": "=", r"\approx": "≈", "≈": "≈", r"\simeq": "≈", r"\leftarrow": "←", r"\gets": "←",
             r"\to": "→", r"\rightarrow": "→", r"\Rightarrow": "⇒", r"\implies": "⇒", r"\mapsto": "↦",
             r"\equiv": "≡", r"\ne": "≠", r"\neq": "≠", "<": "<", ">": ">", r"\le": "≤", r"\leq": "≤",
             r"\ge": "≥", r"\geq": "≥", r"\lt": "<", r"\gt": ">", r"\sim": "∼", ":=": ":=", r"\coloneqq": ":=",
             "≤": "≤", "≥": "≥", "≠": "≠", "←": "←", "→": "→"}
COMPARED = ("=", "≈", "≡", ":=")

#: Environments whose rows (``\\``) and columns (``&``) lay out equations; any other environment
#: (a matrix, cases) is one piece of a member.
ALIGNING = {"aligned", "align", "align*", "eqnarray", "eqnarray*", "split", "gathered", "gather", "gather*",
            "alignat", "alignat*", "alignedat", "multline", "multline*", "equation", "equation*", "flalign",
            "flalign*", "displaymath", "math"}
_TEXT_COMMANDS = (r"\text", r"\textrm", r"\textit", r"\textbf", r"\mbox", r"\hbox", r"\intertext")
_SPACING = {r"\quad", r"\qquad", r"\,", r"\;", r"\:", r"\!", r"\ ", "~", r"\displaystyle", r"\nonumber",
            r"\notag", r"\hfill", r"\hspace"}


class FalseEquation(CheckFailed):
    """A page derive was about to write shows an equation that is not true: a bug in derive."""


@dataclass
class Member:
    text: str
    line: int


@dataclass
class Chain:
    """Members and the relations between them (``relations[i]`` joins ``members[i]`` and ``members[i + 1]``)."""

    members: list[Member]
    relations: list[str]

    @property
    def line(self) -> int:
        return self.members[0].line if self.members else 0

    @property
    def text(self) -> str:
        out = self.members[0].text if self.members else ""
        for rel, m in zip(self.relations, self.members[1:]):
            out += f" {rel} {m.text}"
        return out


@dataclass
class Disagreement:
    """Two members of a chain whose values cannot be equal at the printed precision."""

    line: int
    left: str
    right: str
    relation: str
    left_range: tuple[float, float]
    right_range: tuple[float, float]
    left_index: int = 0
    """Where the two members sit in their chain."""
    right_index: int = 0

    def __str__(self) -> str:
        def show(r):
            mid = (r[0] + r[1]) / 2
            return f"{mid:.6g}" if r[1] - r[0] < 1e-12 * max(1.0, abs(mid)) else f"{r[0]:.6g} … {r[1]:.6g}"
        return (f"line {self.line}: {_short(self.left)} {self.relation} {_short(self.right)} is false "
                f"({show(self.left_range)} vs {show(self.right_range)})")


@dataclass
class ChainCheck:
    chain: Chain
    evaluated: int = 0
    """Members that have a number."""
    checked: int = 0
    """Members compared with a neighbour (so 0 when fewer than two have numbers)."""
    comparisons: int = 0
    unreadable: int = 0
    failures: list[Disagreement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class PageCheck:
    chains: list[ChainCheck]

    @property
    def checked(self) -> int:
        """Members compared with a neighbour, over the page."""
        return sum(c.checked for c in self.chains)

    @property
    def comparisons(self) -> int:
        return sum(c.comparisons for c in self.chains)

    @property
    def failures(self) -> list[Disagreement]:
        return [f for c in self.chains for f in c.failures]

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------- tokens of a formula


#: Commands that matter to the splitting (rows, relations, separators, delimiters); any other
#: command is plain text to it.
_STRUCTURAL = ("begin|end|quad|qquad|approx|simeq|sim|equiv|leftarrow|gets|to|rightarrow|Rightarrow|implies|"
               "mapsto|ne|neq|le|leq|ge|geq|lt|gt|coloneqq|left|right|bigl|bigr|Bigl|Bigr|big|Big|cr|newline|"
               "text|textrm|textit|textbf|mbox|hbox|intertext")
_GROUP = r"\{" + _balanced(6) + r"\}"
_PLAIN_START = (r"[^\\{}()\[\]&=<>,;:.+\-−≈≤≥≠←→\s]|\\(?!(?:" + _STRUCTURAL + r")(?![A-Za-z]))[A-Za-z]+|"
                + _GROUP)
_TOKEN = re.compile(r"\\\\(?:\s*\[[^\]]{0,20}\])?"          # a row break, maybe with its spacing: \\[4pt]
                    r"|\\begin\{([pbBvV]?matrix|smallmatrix|cases|array)\}.*?\\end\{\1\}"  # a matrix: one piece
                    r"|\\(?:begin|end)\s*\{[A-Za-z*]*\}"     # an environment's edge
                    r"|\\(?:text|textrm|textit|textbf|mbox|hbox|intertext)\s*" + _GROUP +  # words
                    r"|(?:" + _PLAIN_START + r")(?:" + _PLAIN_START + r"|[+\-−\s]|(?<=\d)\.(?=\d)|\\[,;:! ])*"
                    # ^ a run of plain text, groups, other commands and inner + and -: one piece
                    r"|\{" + r"|\\[A-Za-z]+|\\.|\s+|.", re.S)   # anything else: one token


def _tokens(tex: str) -> Iterator[tuple[int, str]]:
    """(position, token): a command (``\\frac``, ``\\\\[4pt]`` as ``\\\\``, ``\\{``), a run of space, or a character."""
    for m in _TOKEN.finditer(tex):
        tok = m.group(0)
        if tok.startswith("\\\\"):
            tok = "\\\\"
        elif tok.startswith(("\\begin", "\\end")) and tok.endswith("}") and len(tok) < 40:
            tok = re.sub(r"\s+", "", tok)
        elif tok.isspace():
            tok = " "
        yield m.start(), tok


def _env(token: str) -> str:
    return token[token.index("{") + 1:-1] if "{" in token else ""


class _Builder:
    def __init__(self, tex: str, line: int):
        self.tex, self.line0 = tex, line
        self.chains: list[Chain] = []
        self.current: Chain | None = None
        self.start: int | None = None  # where the open member's text starts
        self.parts: list[str] = []
        self.line_override: int | None = None

    def line_at(self, pos: int) -> int:
        return self.line0 + self.tex.count("\n", 0, pos)

    def add(self, pos: int, token: str) -> None:
        if self.start is None:
            self.start = pos
        self.parts.append(token)

    def close_member(self, relation: str | None = None) -> None:
        text = " ".join("".join(self.parts).split())
        if text:
            if self.current is None:
                self.current = Chain([], [])
            if len(self.current.members) > len(self.current.relations):
                # two members with no relation between them (a row that did not start with one)
                self.close_chain()
                self.current = Chain([], [])
            line = self.line_override if self.line_override is not None else self.line_at(self.start or 0)
            self.current.members.append(Member(text, line))
        if relation is not None:
            if self.current is None or not self.current.members:
                self.current = None  # a relation with nothing on its left: ignore it
            elif len(self.current.relations) == len(self.current.members) - 1:
                self.current.relations.append(relation)
        self.parts, self.start, self.line_override = [], None, None

    def reopen_member(self) -> None:
        """Continue the last member of the chain (a row starting with + or -)."""
        if self.current and self.current.members and len(self.current.relations) < len(self.current.members):
            last = self.current.members.pop()
            self.parts, self.start, self.line_override = [last.text, " "], None, last.line

    def close_chain(self) -> None:
        self.close_member()
        c = self.current
        if c is not None:
            del c.relations[len(c.members) - 1:]
            if c.members:
                self.chains.append(c)
        self.current = None


def split_chain(tex: str, line: int = 1) -> list[Chain]:
    r"""The chains of one formula (the text between ``$$``, or of an ``aligned`` environment).

    ``split_chain(r"a &= b \\ &= c \approx 0.5, \qquad x = 1")`` → two chains, ``a = b = c ≈ 0.5``
    and ``x = 1``. ``line`` is the line number of the formula's first line.
    """
    return [Chain([Member(text, line + offset) for text, offset in members], list(relations))
            for members, relations in _split(tex)]


@lru_cache(maxsize=4096)
def _split(tex: str) -> tuple:
    """split_chain's work, with lines counted from 0 (cached: md, html and tex show the same formulas)."""
    if len(tex) > MAX_FORMULA:
        return ()
    b = _Builder(tex, 0)
    toks = list(_tokens(tex))
    depth = 0
    env_depth: list[str] = []
    row_start = True
    i = 0
    while i < len(toks):
        pos, tok = toks[i]
        if tok.startswith(r"\begin") and r"\end{" not in tok:
            env = _env(tok)
            if depth == 0 and not env_depth and env in ALIGNING:
                i += 1
                if env.startswith("alignat") or env == "alignedat":  # \begin{alignat}{2}
                    while i < len(toks) and toks[i][1] != "}":
                        i += 1
                    i += 1
                continue
            env_depth.append(env)
            b.add(pos, tok)
            i += 1
            continue
        if tok.startswith(r"\end"):
            if env_depth:
                env_depth.pop()
                b.add(pos, tok)
            i += 1
            continue
        nested = depth > 0 or env_depth
        if nested:
            depth += tok in ("{", "(", "[", r"\{") or 0
            depth -= tok in ("}", ")", "]", r"\}") or 0
            depth = max(depth, 0)
            b.add(pos, tok)
            i += 1
            continue
        # depth 0: rows, columns, relations, separators
        if tok == "\\\\" or tok in (r"\cr", r"\newline"):
            b.close_member()
            row_start = True
            i += 1
            continue
        if tok == "&":
            if i + 1 < len(toks) and toks[i + 1][1] == "&":  # && annotation: a separate piece
                b.close_chain()
                i += 2
                continue
            i += 1
            continue
        if tok.isspace() or tok in _SPACING:
            if not row_start and tok.strip():
                if tok in (r"\quad", r"\qquad") and not "".join(b.parts).strip():
                    pass
                elif tok in (r"\quad", r"\qquad"):
                    b.close_chain()
                    i += 1
                    continue
            b.add(pos, " ")
            i += 1
            continue
        if row_start:
            row_start = False
            rel = _relation_at(toks, i)
            if rel:
                if b.current is None:
                    b.close_member()
            elif tok in ("+", "-", "−", r"\cdot", r"\times") and b.current is not None:
                b.reopen_member()
            else:
                b.close_chain()
        rel = _relation_at(toks, i)
        if rel:
            name, width = rel
            b.close_member(RELATIONS[name])
            i += width
            continue
        if tok in (",", ";") or tok.startswith(_TEXT_COMMANDS) or (
                tok == "." and not _digit_near(toks, i) and not _after_delimiter_command(toks, i)):
            b.close_chain()
            i += 1
            continue
        depth += tok in ("{", "(", "[", r"\{") or 0
        depth -= tok in ("}", ")", "]", r"\}") or 0
        depth = max(depth, 0)
        b.add(pos, tok)
        i += 1
    b.close_chain()
    return tuple((tuple((m.text, m.line) for m in c.members), tuple(c.relations)) for c in b.chains)


def _relation_at(toks, i) -> tuple[str, int] | None:
    tok = toks[i][1]
    if tok == ":" and i + 1 < len(toks) and toks[i + 1][1] == "=":
        return ":=", 2
    if tok in RELATIONS:
        return tok, 1
    return None


def _digit_near(toks, i) -> bool:
    return (i > 0 and toks[i - 1][1][-1:].isdigit()) and (i + 1 < len(toks) and toks[i + 1][1][:1].isdigit())


def _after_delimiter_command(toks, i) -> bool:
    return i > 0 and toks[i - 1][1] in (r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\big", r"\Big")


# --------------------------------------------------------------------------- math in a page


def _blank(text: str, start: int, end: int) -> str:
    """Text with [start, end) replaced by spaces (newlines kept, so positions and lines stay)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def math_blocks(text: str, fmt: str = "md") -> Iterator[tuple[int, str]]:
    """(line, formula) of every formula of a page: ``$$…$$``, ``\\[…\\]``, ``$…$``, ``\\(…\\)``, and in
    LaTeX the equation environments and derive's ``\\fitdisplay{…}`` and the rows of its broken form
    (``\\fitrow{…}``); in HTML the same after the
    entities are decoded. Code (Markdown fences and spans, LaTeX comments, HTML scripts) is skipped."""
    if fmt == "ipynb":
        yield from _notebook_blocks(text)
        return
    if fmt in ("md", "txt", "markdown", "text"):
        text = _blank_code_md(text)
    elif fmt == "tex":
        text = _blank_comments_tex(text)
    elif fmt == "html":
        text = _blank_html(text)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    decode = _html.unescape if fmt == "html" else (lambda s: s)
    line, counted = 1, 0
    for start, end, body in _delimited(text, latex=fmt == "tex"):
        line += text.count("\n", counted, start)
        counted = start
        stripped = body.lstrip()
        yield line + body.count("\n", 0, len(body) - len(stripped)), decode(stripped.rstrip())


def _notebook_blocks(text: str) -> Iterator[tuple[int, str]]:
    """A notebook's markdown cells, each read as Markdown; lines count through the cells' text in order."""
    try:
        nb = json.loads(text)
    except ValueError:
        return
    offset = 0
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            for line, body in math_blocks(source, "md"):
                yield offset + line, body
        offset += source.count("\n") + 1


def _blank_all(text: str, pattern: str) -> str:
    """Text with every match of ``pattern`` replaced by spaces (newlines kept)."""
    return re.sub(pattern, lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _blank_code_md(text: str) -> str:
    text = _blank_all(text, r"(?ms)^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)")
    return _blank_all(text, r"(`+)[^`\n]+?\1")


def _blank_comments_tex(text: str) -> str:
    text = _blank_all(text, r"(?<!\\)%[^\n]*")
    return _blank_all(text, r"(?s)\\begin\{(verbatim|lstlisting|minted)\}.*?\\end\{\1\}")


def _blank_html(text: str) -> str:
    text = _blank_all(text, r"(?is)<(script|style)\b.*?</\1\s*>")
    return _blank_all(text, r"(?is)<(code|pre)\b(?:(?!annotation).)*?</\1\s*>")


_ENV_NAMES = "equation|equation\\*|align|align\\*|gather|gather\\*|multline|multline\\*|eqnarray|eqnarray\\*|displaymath|flalign|flalign\\*|alignat|alignat\\*"
_OPEN = re.compile(r"\$\$|\\\[|\\\(|\$|\\fitdisplay\{|\\fitrow\{|\\begin\{(?:" + _ENV_NAMES + r")\}|<annotation encoding=\"application/x-tex\">"
                   r"|<(span|div) class=\"math(?: display)?\">")


def _delimited(text: str, latex: bool) -> Iterator[tuple[int, int, str]]:
    """(start, end, body) of each formula, scanning once from left to right."""
    i, n = 0, len(text)
    while i < n:
        m = _OPEN.search(text, i)
        if not m:
            return
        opener = m.group(0)
        if m.start() > 0 and text[m.start() - 1] == "\\" and opener.startswith("$"):
            i = m.end()
            continue
        body_start = m.end()
        if opener == "$$":
            end = text.find("$$", body_start)
            close = 2
        elif opener == r"\[":
            end = text.find(r"\]", body_start)
            close = 2
        elif opener == r"\(":
            end = text.find(r"\)", body_start)
            close = 2
        elif opener == "$":
            end = _inline_end(text, body_start)
            close = 1
        elif opener.startswith(r"\fitdisplay"):
            end = _brace_end(text, body_start)
            close = 1
        elif opener.startswith(r"\fitrow"):  # the form of a display broken to fit: its rows, read as one aligned block
            rows, end = [], _brace_end(text, body_start)
            while end >= 0:
                rows.append(text[body_start:end])
                if not text.startswith(r"\fitrow{", end + 1):
                    break
                body_start = end + 1 + len(r"\fitrow{")
                end = _brace_end(text, body_start)
            if end >= 0:
                yield m.start(), end + 1, r"\begin{aligned}" + " \\\\ ".join(rows) + r"\end{aligned}"
                i = end + 1
                continue
        elif opener.startswith("<annotation"):
            end = text.find("</annotation>", body_start)
            close = len("</annotation>")
        elif opener.startswith("<"):  # derive's own pages: <span class="math">…</span>, KaTeX renders it
            closer = f"</{m.group(1)}>"
            end = text.find(closer, body_start)
            close = len(closer)
        else:
            env = opener[len(r"\begin{"):-1]
            end = text.find(r"\end{" + env + "}", body_start)
            close = len(r"\end{" + env + "}")
            if end >= 0:
                yield m.start(), end + close, r"\begin{aligned}" + text[body_start:end] + r"\end{aligned}"
                i = end + close
                continue
        if end < 0:
            i = body_start
            continue
        yield m.start(), end + close, text[body_start:end]
        i = end + close


def _inline_end(text: str, start: int) -> int:
    """The closing ``$`` of inline math opened just before ``start`` (pandoc's rules), or -1.
    Inline math does not run over a blank line."""
    if start >= len(text) or text[start].isspace() or text[start] == "$":
        return -1
    j = start
    while True:
        j = text.find("$", j)
        if j < 0 or text.find("\n\n", start, j) >= 0:
            return -1
        if text[j - 1] != "\\" and not text[j - 1].isspace() and not (j + 1 < len(text) and text[j + 1].isdigit()):
            return j
        j += 1


_GROUP_RE = re.compile(_GROUP)


def _brace_end(text: str, start: int) -> int:
    """The ``}`` that closes the group opened just before ``start``, or -1."""
    m = _GROUP_RE.match(text, start - 1)
    return m.end() - 1 if m else -1


def find_chains(text: str, fmt: str = "md") -> Iterator[tuple[int, Chain]]:
    """(line, chain) for every chain of a page in ``md``, ``tex``, ``html``, ``ipynb`` or ``txt``."""
    for line, body in math_blocks(text, fmt):
        for chain in split_chain(body, line):
            yield chain.line, chain


# --------------------------------------------------------------------------- checking


def _tolerance(a: tuple[float, float], b: tuple[float, float]) -> float:
    scale = max(abs(a[0]), abs(a[1]), abs(b[0]), abs(b[1]))
    return 1e-9 * scale + 1e-300


def check_chain(chain: Chain, values: Mapping[str, float] | None = None, digits: int | None = None) -> ChainCheck:
    """Compare every member that has a number with the next one that has one.

    ``values``: canonical name → value for the names members mention (see
    :func:`derive.verify.mathreader.canonical_name`); without them members with names are skipped.
    ``digits``: the page prints numbers to that many significant digits (derive's own pages).
    """
    if values is None:
        evaluated, checked, comparisons, unreadable, failures = _judge(
            tuple(m.text for m in chain.members), tuple(chain.relations), digits)
        return ChainCheck(chain, evaluated, checked, comparisons, unreadable, [
            Disagreement(chain.members[j].line, chain.members[i].text, chain.members[j].text, rel, a, b, i, j)
            for i, j, rel, a, b in failures])
    return _check(chain, values, digits)


@lru_cache(maxsize=8192)
def _judge(texts: tuple[str, ...], relations: tuple[str, ...], digits: int | None):
    """check_chain without values, cached by the chain's text (the md, html and tex of a page share them)."""
    r = _check(Chain([Member(t, 0) for t in texts], list(relations)), None, digits)
    failures = tuple((f.left_index, f.right_index, f.relation, f.left_range, f.right_range) for f in r.failures)
    return r.evaluated, r.checked, r.comparisons, r.unreadable, failures


def _check(chain: Chain, values, digits) -> ChainCheck:
    result = ChainCheck(chain)
    ranges: list[tuple[int, tuple[float, float]] | None] = []
    # Without values a member that names a quantity has no number: skip reading it (most of a page's cost)
    skip = [values is None and _names_a_quantity(m.text) for m in chain.members]
    if skip.count(False) < 2:
        return result
    for k, member in enumerate(chain.members):
        if skip[k]:
            ranges.append(None)
            continue
        try:
            node = parse_math(member.text)
        except MathSyntaxError:
            result.unreadable += 1
            ranges.append(None)
            continue
        try:
            lo, hi = interval(node, values, digits)
            if k > 0 and chain.relations[k - 1] == "≈" and is_literal(node) and lo == hi and lo == int(lo):
                lo, hi = lo - 0.5, hi + 0.5  # ≈ 3: rounded at its units
            ranges.append((k, (lo, hi)))
        except Unevaluable:
            ranges.append(None)
    known = [r for r in ranges if r is not None]
    result.evaluated = len(known)
    if len(known) < 2:
        return result
    involved: set[int] = set()
    for (i, a), (j, b) in zip(known, known[1:]):
        rels = chain.relations[i:j]
        if any(r not in COMPARED for r in rels):
            continue
        relation = "≈" if "≈" in rels else "="
        result.comparisons += 1
        involved |= {i, j}
        tol = _tolerance(a, b)
        if a[0] > b[1] + tol or b[0] > a[1] + tol:
            result.failures.append(Disagreement(chain.members[j].line, chain.members[i].text,
                                                chain.members[j].text, relation, a, b, i, j))
    result.checked = len(involved)
    return result


_COMMAND_OR_STYLED = re.compile(r"\\(?:mathrm|operatorname|text|textrm|mathit|mathbf|mathsf|boldsymbol)\s*\{[^{}]*\}"
                                r"|\\[A-Za-z]+")
_LETTER = re.compile(r"[A-Za-df-z]|e(?!\s*\^)")


def _names_a_quantity(text: str) -> bool:
    """Whether a member surely mentions a name (a letter outside every command, other than the e of e^…).

    Such a member has no number without values, so a check without values need not read it; a member
    this misses (a Greek name) is read and skipped as before, so the answer is only ever a shortcut."""
    return bool(_LETTER.search(_COMMAND_OR_STYLED.sub(" ", text)))


def check_page(text: str, fmt: str = "md", values: Mapping[str, float] | None = None,
               digits: int | None = None) -> PageCheck:
    """Every chain of a page, checked (:func:`check_chain`)."""
    return PageCheck([check_chain(chain, values, digits) for _, chain in find_chains(text, fmt)])


def verify_page(text: str, fmt: str = "md", digits: int | None = None, where: str = "",
                blame: str = "please report this bug in derive") -> PageCheck:
    """Check a page derive is about to write; raise :class:`FalseEquation` naming the line and the chain
    of the first false equation (``where`` names the page, ``blame`` says whose mistake it is)."""
    report = check_page(text, fmt, None, digits)
    if report.failures:
        first = report.failures[0]
        more = len(report.failures) - 1
        raise FalseEquation(f"{where + ' ' if where else ''}{first}"
                            + (f" (and {more} more false equation{'s' if more > 1 else ''})" if more else "")
                            + f"; derive refused to write the page ({blame})")
    return report


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def is_literal(node) -> bool:
    """Whether a member is a number alone (``0.25``, ``-3``, ``\\left(-0.5\\right)``)."""
    while isinstance(node, Op) and node.op == "neg":
        node = node.args[0]
    return isinstance(node, Num)
