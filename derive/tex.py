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


def inline(text: str) -> str:
    """A line of Markdown text: math kept, `code` and emphasis converted, the rest escaped."""
    parts = re.split(r"(\$[^$]+\$|`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(part)
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(r"\texttt{" + escape(part[1:-1]) + "}")
        else:
            part = escape(part)
            part = re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", part, flags=re.S)
            part = re.sub(r"\*(.+?)\*", r"\\emph{\1}", part, flags=re.S)
            out.append(part)
    return "".join(out)


def _display(math: str) -> str:
    return "\\fitdisplay{" + math.strip() + "}"


def markdown_to_latex(markdown: str) -> str:
    """The LaTeX body of a rendered worked example (its ``#`` title line is left to the document)."""
    lines = markdown.splitlines()
    out: list[str] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if in_list and not line.startswith(("- ", "  ")):
            out.append(r"\end{itemize}")
            in_list = False
        if stripped.startswith("$$") and (stripped == "$$" or not stripped.endswith("$$") or len(stripped) == 2):
            block = [stripped[2:]]
            i += 1
            while i < len(lines) and not lines[i].strip().endswith("$$"):
                block.append(lines[i])
                i += 1
            if i < len(lines):
                block.append(lines[i].strip()[:-2])
            out.append(_display("\n".join(b for b in block if b.strip())))
        elif stripped.startswith("$$") and stripped.endswith("$$"):
            out.append(_display(stripped[2:-2]))
        elif line.startswith("# "):
            pass  # the title: the document's \maketitle
        elif m := re.match(r"(#{2,4}) (.*)", line):
            command = {2: "section", 3: "subsection", 4: "subsubsection"}[len(m.group(1))]
            out.append(f"\\{command}*{{{inline(m.group(2))}}}")
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i].strip())
                i += 1
            out.append(_table(rows))
            continue
        elif line.startswith("- "):
            if not in_list:
                out.append(r"\begin{itemize}")
                in_list = True
            out.append(r"\item " + _mixed(line[2:]))
        elif stripped == "---":
            out.append(r"\bigskip\noindent\rule{\linewidth}{0.4pt}")
        elif not stripped or line.startswith("  "):
            out.append(_mixed(line))
        else:  # a paragraph: its lines together, so *emphasis* may span them
            paragraph = [line]
            while i + 1 < len(lines) and _is_text(lines[i + 1]):
                i += 1
                paragraph.append(lines[i])
            out.append(_mixed("\n".join(paragraph)))
        i += 1
    if in_list:
        out.append(r"\end{itemize}")
    return "\n".join(out) + "\n"


def _is_text(line: str) -> bool:
    s = line.strip()
    return bool(s) and not line.startswith(("#", "- ", "  ")) and not s.startswith(("|", "$$")) and s != "---"


def _mixed(line: str) -> str:
    """A line that may carry a one-line ``$$display$$`` among its text."""
    parts = re.split(r"(\$\$.+?\$\$)", line)
    return "".join(_display(p[2:-2]) if p.startswith("$$") else inline(p) for p in parts)


def _cells(row: str) -> list[str]:
    cells, current, in_math = [], "", False
    for ch in row.strip()[1:-1] if row.strip().endswith("|") else row.strip()[1:]:
        if ch == "$":
            in_math = not in_math
        if ch == "|" and not in_math and not current.endswith("\\"):
            cells.append(current.strip())
            current = ""
        else:
            current += ch
    cells.append(current.strip())
    return [c.replace("\\|", "|") for c in cells]


def _table(rows: list[str]) -> str:
    header, body = _cells(rows[0]), [_cells(r) for r in rows[2:]]
    wide = [max(len(c) for c in col) > 40 for col in zip(header, *body)]
    spec = "".join("X" if w else "l" for w in wide)
    env = "tabularx" if any(wide) else "tabular"
    width = "{\\linewidth}" if any(wide) else ""
    lines = [r"\begin{center}\small", f"\\begin{{{env}}}{width}{{{spec}}}", r"\toprule",
             " & ".join(r"\textbf{" + inline(c) + "}" for c in header) + r" \\", r"\midrule"]
    lines += [" & ".join(inline(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", f"\\end{{{env}}}", r"\end{center}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- PDF


def compile_pdf(tex: str, name: str) -> bytes:
    """Compile a complete LaTeX document with pdflatex (reproducibly dated); a clear error without it."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise UsageError("-f pdf needs pdflatex, which is not installed (Debian: apt-get install "
                         "texlive-latex-base texlive-latex-recommended cm-super-minimal); -f tex writes the source")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{name}.tex"
        source.write_text(tex, encoding="utf-8")
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
        run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", source.name], cwd=tmp,
                             capture_output=True, text=True, errors="replace", env=env, timeout=300)
        pdf = Path(tmp) / f"{name}.pdf"
        if run.returncode != 0 or not pdf.is_file():
            error = next((l for l in run.stdout.splitlines() if l.startswith("!")), "see the .tex")
            raise DeriveError(f"pdflatex failed on the document ({error.lstrip('! ')}); -f tex writes the source")
        return pdf.read_bytes()
