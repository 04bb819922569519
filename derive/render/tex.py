"""LaTeX and PDF: the Markdown a template renders, written as LaTeX for pdflatex.

The Markdown templates stay the one source of a worked example's content; this writer knows
the small subset they emit (headings, paragraphs, ``-`` lists, pipe tables, ``$$`` displays,
inline ``$`` math, `code`, *emphasis*, **bold**, ``---``) and nothing more. The document
around it is the template ``document.tex.j2``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from derive.errors import DeriveError, UsageError
from derive.render.escape import checked_math, inline_markup
from derive.render.markdown import split_displays, split_inline, write

#: Characters outside ASCII that appear in derive's text, as pdflatex-safe LaTeX.
UNICODE = {"≤": r"$\le$", "≥": r"$\ge$", "Δ": r"$\Delta$", "θ": r"$\theta$", "σ": r"$\sigma$", "η": r"$\eta$",
           "·": r"$\cdot$", "×": r"$\times$", "−": r"$-$", "…": r"\dots{}", "½": r"$\frac12$", "²": r"$^2$",
           "⁻": r"$^{-}$", "⁶": r"$^{6}$", "′": r"$'$", "∂": r"$\partial$", "→": r"$\to$", "δ": r"$\delta$",
           "α": r"$\alpha$", "—": "---", "–": "--"}
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "$": r"\$"}


def escape(text: str) -> str:
    """Plain text for LaTeX: its special characters escaped, derive's Unicode written in LaTeX."""
    out = "".join(_SPECIAL.get(ch, ch) for ch in text)
    for ch, tex in UNICODE.items():
        out = out.replace(ch, tex)
    return out.replace("$^{-}$$^{6}$", "$^{-6}$")


def _emphasis(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", text, flags=re.S)
    return re.sub(r"\*(.+?)\*", r"\\emph{\1}", text, flags=re.S)


def inline(text: str) -> str:
    """A line of Markdown text: math kept (if on the whitelist), `code` and emphasis converted, the rest escaped."""
    return inline_markup(split_inline(text), escape, _emphasis, lambda m: f"${checked_math(m)}$",
                         code)


def code(text: str) -> str:
    """`code` as typewriter text, its hyphens kept apart (``--blank`` must not become an en dash)."""
    return r"\texttt{" + escape(text).replace("-", "-{}") + "}"


def _top_level(math: str, separator: str) -> list[str]:
    """``math`` cut at each ``separator`` outside braces and environments (``\\\\`` or ``&``)."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"\\begin\{[A-Za-z*]+\}|\\end\{[A-Za-z*]+\}|\\\\|\\.|[{}&]", math, flags=re.S):
        token = m.group()
        if token == "{" or token.startswith("\\begin"):
            depth += 1
        elif token == "}" or token.startswith("\\end"):
            depth -= 1
        elif token == separator and depth == 0:
            parts.append(math[start:m.start()])
            start = m.end()
    parts.append(math[start:])
    return parts


#: In a display too wide for the line, a matrix of more columns than this is set in blocks of this
#: many columns, between which the line may break.
MATRIX_BLOCK = 6


def _blocks(math: str) -> str:
    """Wide matrices as blocks of MATRIX_BLOCK columns, ``[ … \\allowbreak … ]``; a shape ``(2 \\times 12)``
    kept on one line."""
    def split(m: re.Match) -> str:
        rows = [_top_level(r, "&") for r in _top_level(m.group(1), "\\\\") if r.strip()]
        width = max(len(r) for r in rows)
        if width <= MATRIX_BLOCK or any(len(r) != width for r in rows):
            return m.group(0)
        parts = []
        for start in range(0, width, MATRIX_BLOCK):
            body = " \\\\ ".join(" & ".join(c.strip() for c in r[start:start + MATRIX_BLOCK]) for r in rows)
            left = "\\left[" if start == 0 else "\\left."
            right = "\\right]" if start + MATRIX_BLOCK >= width else "\\right."
            parts.append(f"{left}\\begin{{matrix}} {body} \\end{{matrix}}{right}")
        return "\\allowbreak ".join(parts)

    math = re.sub(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", split, math, flags=re.S)
    return re.sub(r"\(\s*\d+\s*\\times\s*\d+\s*\)", lambda m: "{" + m.group(0) + "}", math)


#: An aligned block is a box TeX cannot break across pages: longer blocks are set as several, of at
#: most this many rows each (a block of 36 update rows ran off the bottom of the page).
ALIGNED_ROWS = 10
_CONTINUES = re.compile(r"\s*&?\s*(?:=|\\approx|\\leftarrow|\\le|\\ge|<|>|\\quad|\+|-)")


_DELIMITER = re.compile(r"\\(left|right)\s*(\\[{}]|\\[A-Za-z]+|[()\[\]|.])")


def _breakable(math: str) -> str:
    r"""``\left( … \right)`` as a group TeX cannot break inside; in a row too wide for the line, sized
    delimiters instead (``\Bigl( … \Bigr)`` around a fraction, a sum or a root, plain ones otherwise),
    between which TeX breaks after = + − and · as everywhere else."""
    out, stack, pos = [], [], 0
    for m in _DELIMITER.finditer(math):
        side, delim = m.groups()
        if side == "left":
            out.append(math[pos:m.start()])
            stack.append((len(out), delim))
            out.append(None)  # the opening, sized once its content is known
        elif stack:
            k, opening = stack.pop()
            inner = "".join(p for p in out[k + 1:] if p is not None) + math[pos:m.start()]
            tall = any(t in inner for t in (r"\frac", r"\sum", r"\sqrt", r"\begin", r"\Big"))
            size = ("\\Bigl", "\\Bigr") if tall else ("", "")
            out[k] = "" if opening == "." else f"{size[0]}{opening}" + (" " if opening[-1:].isalpha() else "")
            out.append(math[pos:m.start()])
            out.append("" if delim == "." else f"{size[1]}{delim}" + (" " if delim[-1:].isalpha() else ""))
        else:
            return math  # unbalanced: leave it to TeX as written
        pos = m.end()
    if stack:
        return math
    out.append(math[pos:])
    return "".join(out)


#: In a row too wide for the line, a fraction whose numerator is longer than this (characters of LaTeX) is
#: set as ``\frac{1}{d} \bigl( … \bigr)``: a fraction is one box TeX cannot break, the bracketed sum breaks
#: after any of its + and − (a layer normalization's mean and variance over many features).
LONG_NUMERATOR = 100


def _brace_group(math: str, i: int) -> int:
    """The index after the braced group that opens at ``math[i]`` (``{``), skipping escaped characters."""
    depth = 0
    while i < len(math):
        if math[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(math[i], 0)
        i += 1
        if depth == 0:
            return i
    return i


def _terms(math: str) -> list[tuple[str, str]]:
    """A sum cut into its terms, ``[("", first), ("+", second), ("-", third), …]``: at `` + `` and `` - `` outside
    braces and ``\\left … \\right``."""
    out, depth, start, op = [], 0, 0, ""
    for m in re.finditer(r"\\left(?![A-Za-z])|\\right(?![A-Za-z])|\\.|[{}]| [+-] ", math):
        token = m.group(0)
        if token in ("{", "\\left"):
            depth += 1
        elif token in ("}", "\\right"):
            depth -= 1
        elif token.strip() in "+-" and token.startswith(" ") and depth == 0:
            out.append((op, math[start:m.start()].strip()))
            op, start = token.strip(), m.end()
    out.append((op, math[start:].strip()))
    return out


def _open_fractions(math: str) -> str:
    r"""Each top-level ``\frac{long sum}{d}`` of a row as ``\frac{1}{d} \bigl( long sum \bigr)``: the same number,
    which the line may now break inside (``\bigl`` and ``\bigr`` group nothing, as ``\left`` and ``\right`` do)."""
    out, i, depth = [], 0, 0
    while i < len(math):
        if depth == 0 and math.startswith("\\frac{", i):
            mid = _brace_group(math, i + 5)
            if mid < len(math) and math[mid] == "{":
                end = _brace_group(math, mid)
                numerator, denominator = math[i + 6:mid - 1], math[mid:end]
                terms = _terms(numerator)
                if len(numerator) > LONG_NUMERATOR and len(terms) > 1:
                    # each term braced: one box, so that the line breaks between the terms, never inside one
                    body = " ".join(f"{op} {{{term}}}" if op else f"{{{term}}}" for op, term in terms)
                    out.append(f"\\frac{{1}}{denominator} \\bigl( {body} \\bigr)")
                    i = end
                    continue
        if math[i] == "\\":
            out.append(math[i:i + 2])
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(math[i], 0)
        out.append(math[i])
        i += 1
    return "".join(out)


def _display(math: str) -> str:
    """A display for ``\\fitdisplay``: the formula, and what to set instead when it is wider than
    the line: each row of an ``aligned`` block (or the formula) as display-style math in a paragraph
    of its own, which TeX breaks after its relations and operators (=, +, −, ·) — never shrunk.
    An aligned block of more than :data:`ALIGNED_ROWS` rows becomes several displays, so pages can break."""
    math = checked_math(math).strip()
    m = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", math, flags=re.S)
    rows = _top_level(m.group(1), "\\\\") if m else [math]
    rows = [row for row in rows if row.strip()]
    if len(rows) > ALIGNED_ROWS:
        size = -(-len(rows) // -(-len(rows) // ALIGNED_ROWS))  # as even as the pieces can be
        pieces = [[]]
        for row in rows:  # cut only where a new chain starts: a row "&= c" continues the row before
            if len(pieces[-1]) >= size and not _CONTINUES.match(row):
                pieces.append([])
            pieces[-1].append(row)
        if len(pieces) > 1:
            return "".join(_display("\\begin{aligned}" + " \\\\\n".join(r.strip() for r in piece) + "\n\\end{aligned}")
                           for piece in pieces)
    rows = [re.sub(r"^\s*\[[^\]]*\]", "", row) for row in rows]  # a row's extra space (\\[4pt]) is no text
    broken = "".join("\\fitrow{" + _breakable(_open_fractions(_blocks(" ".join("".join(_top_level(row, "&")).split()))))
                     + "}" for row in rows if row.strip())
    return "\\fitdisplay{" + math + "}{" + broken + "}"


def _mixed(text: str) -> str:
    return "".join(_display(p) if kind == "display" else inline(p) for kind, p in split_displays(text))


class _Latex:
    """The LaTeX of each kind of block."""

    display = staticmethod(lambda b: _display(b.text) + "\n")
    heading = staticmethod(lambda b: f"\\{['section', 'subsection', 'subsubsection'][b.level - 2]}*{{{inline(b.text)}}}\n")
    table = staticmethod(lambda b: _table(b.rows) + "\n")
    item = staticmethod(lambda b: r"\item " + _mixed(b.text) + "\n")
    rule = staticmethod(lambda b: r"\bigskip\noindent\rule{\linewidth}{0.4pt}" + "\n")
    paragraph = staticmethod(lambda b: _mixed(b.text) + "\n")
    image = staticmethod(lambda b: _figure(b.text, b.target) + "\n")
    list_open = staticmethod(lambda: r"\begin{itemize}")
    list_close = staticmethod(lambda: r"\end{itemize}")


def markdown_to_latex(markdown: str) -> str:
    """The LaTeX body of a rendered worked example (its ``#`` title is left to the document)."""
    return "\n" + "\n".join(write(markdown, _Latex))


#: Tables with more rows than this become longtables, which break across pages.
LONG_TABLE = 24


def _figure(caption: str, file: str) -> str:
    return "\n".join([r"\begin{center}", rf"\includegraphics[width=\linewidth,height=0.45\textheight,keepaspectratio]{{{file}}}",
                      r"\par\small " + inline(caption), r"\end{center}"])


def _table(rows) -> str:
    header, body = rows[0], rows[1:]
    wide = [max(len(c) for c in col) > 40 for col in zip(header, *body)]
    head = [r"\toprule", " & ".join(r"\textbf{" + inline(c) + "}" for c in header) + r" \\", r"\midrule"]
    lines = [" & ".join(inline(c) for c in row) + r" \\" for row in body]
    if len(body) > LONG_TABLE:  # breaks across pages, its header repeated
        spec = "".join(r"p{0.35\linewidth}" if w else "l" for w in wide)
        return "\n".join([r"{\small", f"\\begin{{longtable}}{{{spec}}}", *head, r"\endhead",
                          *lines, r"\bottomrule", r"\end{longtable}}"])
    spec = "".join("X" if w else "l" for w in wide)
    env = "tabularx" if any(wide) else "tabular"
    width = "{\\linewidth}" if any(wide) else ""
    if env == "tabularx":  # as wide as the line already
        return "\n".join([r"\begin{center}\small", f"\\begin{{{env}}}{width}{{{spec}}}", *head, *lines,
                          r"\bottomrule", f"\\end{{{env}}}", r"\end{center}"])
    return "\n".join([r"\begin{center}\small\fittable{%", f"\\begin{{{env}}}{{{spec}}}", *head, *lines,
                      r"\bottomrule", f"\\end{{{env}}}}}", r"\end{center}"])


# --------------------------------------------------------------------------- PDF


#: pdflatex runs at most this many times, until its .aux file settles (longtable widths).
MAX_PASSES = 4


def compile_pdf(tex: str, name: str, files: dict[str, bytes] | None = None) -> bytes:
    """Compile a complete LaTeX document with pdflatex (reproducibly dated); a clear error without it.

    ``files`` (name → bytes) are written beside the source first: the pictures it includes.
    pdflatex runs in a fresh temporary directory, without shell escape, and with kpathsea told to
    open only files below it (``openin_any=p``, ``openout_any=p``: no absolute paths, no ``..``,
    no dot files), again while LaTeX asks for a rerun (longtable's column widths), at most MAX_PASSES times.
    """
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise UsageError("-f pdf needs pdflatex, which is not installed (Debian: apt-get install "
                         "texlive-latex-base texlive-latex-recommended texlive-fonts-recommended lmodern); "
                         "-f tex writes the source")
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        source = Path(tmp) / f"{name}.tex"
        source.write_text(tex, encoding="utf-8")
        for file, data in (files or {}).items():
            (Path(tmp) / Path(file).name).write_bytes(data)
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "openin_any": "p",
               "openout_any": "p", "shell_escape": "f", "TEXMFOUTPUT": tmp}
        for _ in range(MAX_PASSES):
            run = subprocess.run([pdflatex, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                                  source.name], cwd=tmp, capture_output=True, text=True, errors="replace",
                                 env=env, timeout=300, stdin=subprocess.DEVNULL)
            if run.returncode != 0 or "Rerun" not in run.stdout:  # LaTeX and longtable say when the .aux moved
                break
        pdf = Path(tmp) / f"{name}.pdf"
        if run.returncode != 0 or not pdf.is_file():
            error = next((l for l in run.stdout.splitlines() if l.startswith("!")), "see the .tex")
            raise DeriveError(f"pdflatex failed on the document ({error.lstrip('! ')}); -f tex writes the source")
        return pdf.read_bytes()
