"""What a spec's prose (its ``title`` and ``description``) may hold: text, `code`, *emphasis* and
math in ``$…$`` / ``$$…$$`` whose TeX uses only the commands listed here.

Specs are shared, and their prose is typeset by pdflatex, KaTeX, MathJax (Jupyter, Moodle) and
Markdown renderers. A whitelist, not a blacklist: a command that is not below (``\\input``,
``\\openin``, ``\\catcode``, ``\\def``, ``\\write``, ``\\csname``, ``\\href``, …) is refused, and so are
the TeX constructs that reach around commands (``^^5c`` is a backslash to TeX, ``%`` comments out
the rest of a line, ``#`` is a macro parameter) and unbalanced braces. The renderers check every
formula they write against the same list (derive.render.escape), whatever its origin.
"""

from __future__ import annotations

import re

#: Letters and symbols.
_SYMBOLS = """
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi
rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma
Upsilon Phi Psi Omega
partial nabla infty prime ell hbar emptyset varnothing forall exists neg lnot top bot angle
ldots cdots vdots ddots dots dotsb dotsc dotsm
"""
#: Operators, relations, arrows, delimiters.
_OPERATORS = """
sum prod int iint oint lim limsup liminf max min sup inf exp log ln lg sin cos tan cot sec csc arcsin
arccos arctan sinh cosh tanh coth arg det dim ker deg gcd Pr
cdot times div pm mp circ odot otimes oplus ominus ast star bullet setminus cup cap wedge vee
le leq ge geq ne neq approx equiv sim simeq cong propto in notin ni subset subseteq supset supseteq
ll gg to rightarrow leftarrow Rightarrow Leftarrow leftrightarrow Leftrightarrow longrightarrow
longleftarrow mapsto gets implies iff uparrow downarrow mid parallel perp
langle rangle lvert rvert lVert rVert vert Vert lceil rceil lfloor rfloor lbrace rbrace
left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr
"""
#: Structures, accents, fonts and spacing.
_STRUCTURES = """
frac dfrac tfrac sqrt binom dbinom tbinom begin end substack overset underset stackrel limits nolimits
hat bar tilde vec dot ddot check breve acute grave overline underline widehat widetilde overbrace
underbrace overrightarrow boxed
mathrm mathbf mathit mathsf mathtt mathcal mathbb boldsymbol text textrm textbf textit textsf texttt
operatorname displaystyle textstyle scriptstyle scriptscriptstyle
quad qquad enspace thinspace
"""
COMMANDS = frozenset((_SYMBOLS + _OPERATORS + _STRUCTURES).split())
"""The named commands allowed in math (each works in pdflatex with amsmath/amssymb and in KaTeX)."""
SYMBOL_COMMANDS = frozenset(r"\,;:! {}|$&_%#")
"""The characters allowed after a backslash: spacing, escaped specials and ``\\\\`` (a new row)."""
ENVIRONMENTS = frozenset("matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix cases aligned "
                         "alignedat gathered array".split())
"""The environments allowed in ``\\begin{…}`` inside math."""

_TOKEN = re.compile(r"\\([A-Za-z]+|.?)|(\^\^)|([%#])|([{}])", re.S)


def math_problem(tex: str) -> str | None:
    """What is not allowed in a formula (``"the command \\\\input"``), or None when it is all allowed."""
    depth = 0
    for m in _TOKEN.finditer(tex):
        command, carets, special, brace = m.groups()
        if command is not None:
            if len(command) > 1 or command.isalpha():
                if command not in COMMANDS:
                    return f"the command \\{command}"
                if command in ("begin", "end"):
                    env = re.match(r"\s*\{\s*([A-Za-z]+\*?)\s*\}", tex[m.end():])
                    if env is None or env.group(1) not in ENVIRONMENTS:
                        return f"\\{command} of an environment other than {', '.join(sorted(ENVIRONMENTS))}"
            elif command == "":
                return "a backslash at the end"
            elif command not in SYMBOL_COMMANDS:
                return f"the control symbol \\{command}"
        elif carets:
            return "^^ (TeX's notation for a character by its code)"
        elif special:
            return f"the character {special} (write \\{special})"
        elif brace == "{":
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return "a } without its {"
    if depth:
        return "a { without its }"
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in tex):
        return "a control character"
    return None


_PIECES = re.compile(r"(\$\$.+?\$\$|\$[^$]+?\$|`[^`]*`)", re.S)


def pieces(text: str) -> list[tuple[str, str]]:
    """Prose as ("display", tex), ("math", tex), ("code", text) and ("text", text) runs, in order."""
    out = []
    for part in _PIECES.split(text):
        if len(part) > 4 and part.startswith("$$") and part.endswith("$$"):
            out.append(("display", part[2:-2]))
        elif len(part) > 2 and part.startswith("$") and part.endswith("$"):
            out.append(("math", part[1:-1]))
        elif len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(("code", part[1:-1]))
        elif part:
            out.append(("text", part))
    return out


def prose_problem(text: str, *, one_line: bool) -> str | None:
    """What makes a title (``one_line``) or description unusable, or None."""
    if one_line and ("\n" in text or "\r" in text):
        return "expected one line (no line breaks)"
    bad = next((ch for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or 0x7f <= ord(ch) < 0xa0
                or ch in "\u2028\u2029"), None)
    if bad is not None:
        return f"contains the control character U+{ord(bad):04X}"
    for kind, part in pieces(text):
        if kind in ("math", "display"):
            problem = math_problem(part)
            if problem:
                shown = part if len(part) <= 40 else part[:37] + "..."
                return (f"the math ${shown}$ uses {problem}, which is not allowed in a spec "
                        "(the commands allowed are listed in docs/spec.md)")
        elif "\\" in part:
            return "a backslash outside $…$ math (write math between dollar signs)"
        elif kind == "text" and "$" in part:
            return "an unmatched $ (math goes between two dollar signs)"
    return None
