r"""Every number a document states, and what it states it about.

A number is a *claim* about a quantity when the document names it: ``h_{1}^{\mathrm{out}} =
\sigma(16) \approx 0.99999989`` (the last member of a chain whose first member is a name),
``print(grad_v21, grad_v22)`` followed by its output, ``h2_out = 0.02`` in prose, or a name
within a few words of the number in the same clause ("the ``0.99`` from ``h1_out``"; *loose*:
it may state the name's value or its gradient). Other numbers are matched by value only.

Numbers that are labels (instance 2, epoch 200), list items, indices (``w_{11}``) or integers in
prose are not claims. A list of as many numbers as the spec has parameters that is not the
spec's own starts a stretch (to the next heading) about *another network*: names there are not
held to this spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from derive.grade.audit.documents import Document, Piece
from derive.grade.audit.names import Known, Ref, Vocabulary
from derive.errors import DeriveError
from derive.grade.precision import parse_decimal
from derive.i18n import _

#: A plain decimal in prose, code output or e-notation; not part of a name (h1, float64) or a date.
NUMBER = re.compile(r"(?<![\w.#])([-−]?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][-+]?\d{1,3})?)(?![\w]|\.\d)")
#: A number alone in a math member: 0.7319, -5.344 \times 10^{-8}, \left(-2\right).
MATH_NUMBER = re.compile(r"[-−+]?\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([-+−]?\d{1,3})|\s*(?:\\times|\\cdot|×|·)\s*10\s*\^\s*"
                         r"(?:\{\s*([-−+]?\d{1,3})\s*\}|([-−+]?\d)))?")
RELATION = re.compile(r"\\approx|≈|\\simeq|(?<![<>!\\])=|\\leftarrow|←|:=|\\gets")
LABELS = {"instance", "instances", "epoch", "epochs", "step", "steps", "layer", "layers", "unit", "units",
          "example", "line", "lines", "figure", "fig", "table", "section", "chapter", "iteration", "iterations",
          "row", "column", "col", "part", "no", "number", "variant", "seed", "page", "eq", "equation", "exercise",
          "question", "problem", "item", "round", "batch", "sample", "samples", "hidden", "inputs", "outputs"}
MAX_WORDS = 4
MAX_MATH = 6000
#: An aligned block is read row by row: each row within MAX_MATH, the whole within MAX_ALIGNED.
MAX_ALIGNED = 60_000


@dataclass
class Claim:
    line: int
    written: str
    """The number as written (``-5.344 \\times 10^{-8}`` becomes ``-5.344e-8``)."""
    value: float
    unit: float
    digits: int
    cands: list[Known] | None = None
    """What its name can mean (None: no name; matched by value)."""
    tight: bool = False
    """Bound by ``=``, a chain or a print (not by being near a name in prose)."""
    result: bool = False
    """Stated as a result (program output): reported as unmatched when nothing explains it."""
    name: str = ""
    other_network: bool = False
    instance: int | None = None


@dataclass
class Chain:
    """A chain ``a = b = c ≈ d`` of a math piece, its members as written, for the consistency check."""

    line: int
    members: list[tuple[str, str, int]]
    """(relation before it, member text, line)"""


@dataclass
class Reading:
    claims: list[Claim] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    numbers: int = 0
    skipped: list[str] = field(default_factory=list)
    other_network: list[tuple[int, int]] = field(default_factory=list)


def read_claims(doc: Document, vocab: Vocabulary) -> Reading:
    r = Reading()
    regions = _other_network(doc, vocab)
    r.other_network = regions
    for block in doc.blocks:
        kinds = {p.kind for p in block}
        if "code" in kinds or "output" in kinds:
            _code(block, vocab, r)
        else:
            _paragraph(block, vocab, r)
    for c in r.claims:
        c.other_network = any(a <= c.line < b for a, b in regions)
    r.claims.sort(key=lambda c: c.line)
    return r


# --------------------------------------------------------------------------- numbers


def _claim(line: int, written: str) -> Claim | None:
    parsed = parse_decimal(written.replace("−", "-"))
    if parsed is None:
        return None
    value, unit, digits = parsed
    return Claim(line=line, written=written.replace("−", "-"), value=value, unit=unit, digits=digits)


def math_number(text: str) -> str | None:
    """The decimal a math member is, when it is one number alone (``\\left(-2\\right)`` → ``-2``)."""
    t = text.strip().rstrip(",.;").strip()
    t = t.replace(r"\left", "").replace(r"\right", "").replace(r"\!", "").replace(r"\,", "").strip()
    while len(t) > 2 and t[0] in "({" and t[-1] in ")}" and _balanced(t[1:-1]):
        t = t[1:-1].strip()
    m = MATH_NUMBER.fullmatch(t)
    if not m:
        return None
    sign = "-" if t.lstrip().startswith(("-", "−")) else ""
    exponent = m.group(2) or m.group(3) or m.group(4)
    mantissa = m.group(1)
    return f"{sign}{mantissa}" + (f"e{exponent.replace('−', '-')}" if exponent else "")


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch in "({[") - (ch in ")}]")
        if depth < 0:
            return False
    return depth == 0


def _count_math_numbers(text: str) -> int:
    t = re.sub(r"[_^]\s*\{[^{}]*\}|[_^]\s*\w", " ", text)
    t = re.sub(r"\\[A-Za-z]+", " ", t)
    return len(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", t))


# --------------------------------------------------------------------------- math


def _math(piece: Piece, vocab: Vocabulary, r: Reading) -> None:
    """The chains of a formula (read by :func:`derive.verify.chains.split_chain`): the numbers its named
    members state, and the chain itself for the consistency check."""
    from derive.verify.chains import split_chain

    text = piece.text
    r.numbers += _count_math_numbers(text)
    longest = max(map(len, text.split("\\\\"))) if len(text) <= MAX_ALIGNED else len(text)
    if longest > MAX_MATH:
        r.skipped.append(_("line %(line)s: a formula of %(n)s characters (more than %(most)s)") % {
            "line": piece.line, "n": longest, "most": MAX_MATH})
        return
    if _depth(text) > 40:
        r.skipped.append(_("line %(line)s: a formula nested more than 40 levels deep") % {"line": piece.line})
        return
    try:
        chains = split_chain(text, piece.line)
    except (DeriveError, RecursionError, ValueError) as exc:
        r.skipped.append(_("line %(line)s: a formula that cannot be read (%(why)s)") % {"line": piece.line,
                                                                                     "why": str(exc)[:80]})
        return
    for chain in chains:
        for m in chain.members:
            m.line = _original(piece, m.line)
        r.chains.append(chain)
        if len(chain.members) < 2:
            continue
        lhs = chain.members[0].text
        update = any(rel in ("←",) for rel in chain.relations)
        members = [(m.text, m.line) for m, rel in zip(chain.members[1:], chain.relations) if rel in BINDING]
        _bind_chain(lhs, members, vocab, r, update)
    if piece.display and len(chains) == 0:
        written = math_number(text)
        c = _claim(piece.line, written) if written else None
        if c:
            r.claims.append(c)


#: Relations that say the member is the value of the first one.
BINDING = ("=", "≈", "←", ":=", "≡")


def _original(piece: Piece, line: int) -> int:
    if piece.lines:
        k = line - piece.line
        return piece.lines[min(max(k, 0), len(piece.lines) - 1)]
    return line


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}":
            depth -= 1
    return deepest


def _matrix_entries(member: str) -> list[list[str]] | None:
    m = re.fullmatch(r"\s*\\begin\{([pbBvV]?matrix)\}(.*)\\end\{\1\}\s*[,.]?\s*", member, re.S)
    if not m or r"\begin" in m.group(2):
        return None
    return [[c.strip() for c in row.split("&")] for row in re.split(r"\\\\", m.group(2)) if row.strip()]


def _bind_chain(lhs: str | None, members: list[tuple[str, int]], vocab: Vocabulary, r: Reading,
                update: bool) -> None:
    ref = vocab.resolve(lhs) if lhs else None
    if ref is not None and update and ref.kind == "value":
        ref = Ref(ref.nodes, "update", ref.shape, ref.rows_are_instances)
    lhs_matrix = _matrix_entries(lhs) if lhs else None
    for member, line in members:
        written = math_number(member)
        if written is not None:
            c = _claim(line, written)
            if c is None:
                continue
            if ref is not None and ref.shape is None:
                c.cands, c.tight, c.name = vocab.candidates(ref), True, lhs
            r.claims.append(c)
            continue
        entries = _matrix_entries(member)
        if entries is None:
            continue
        flat = [e for row in entries for e in row]
        names = [e for row in lhs_matrix for e in row] if lhs_matrix else None
        for k, entry in enumerate(flat):
            w = math_number(entry)
            c = _claim(line, w) if w else None
            if c is None:
                continue
            if names and len(names) == len(flat):
                sub = vocab.resolve(names[k])
                if sub is not None and sub.shape is None:
                    if update and sub.kind == "value":
                        sub = Ref(sub.nodes, "update")
                    c.cands, c.tight, c.name = vocab.candidates(sub), True, names[k]
            elif ref is not None and ref.shape is not None:
                rows, cols = ref.shape
                if not ref.rows_are_instances and len(flat) == rows * cols:
                    c.cands, c.tight, c.name = vocab.candidates(Ref((ref.nodes[k],), ref.kind)), True, lhs
                elif ref.rows_are_instances and cols and len(entries[0]) == cols:
                    c.cands, c.tight, c.name = vocab.candidates(Ref((ref.nodes[k % cols],), ref.kind)), True, lhs
            r.claims.append(c)


# --------------------------------------------------------------------------- prose


_TOKEN = re.compile(r"(?P<code>`[^`\n]*`)|(?P<num>" + NUMBER.pattern + r")|(?P<ident>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)"
                    r"|(?P<eq>=|≈|:)|(?P<stop>[.,;!?()\[\]|\"“”«»{}<>])|(?P<other>\S)")


def _tokens(piece: Piece, vocab: Vocabulary, r: Reading) -> list[tuple]:
    """(kind, text, line, extra) of a prose piece: num, name, word, eq, stop."""
    out = []
    for m in _TOKEN.finditer(piece.text):
        line = piece.line_at(m.start())
        if m.group("code") and NUMBER.fullmatch(m.group("code")[1:-1].strip()):
            out.append(("num", m.group("code")[1:-1].strip(), line, None))
            continue
        if m.group("code"):
            inner = m.group("code")[1:-1]
            sub = Piece("prose", inner, line)
            ref = vocab.resolve(inner) if not NUMBER.fullmatch(inner.strip()) else None
            if ref is not None and ref.shape is None:
                out.append(("name", inner, line, ref))
            else:
                out.append(("stop", "`", line, None))
                out.extend(_tokens(sub, vocab, r))
                out.append(("stop", "`", line, None))
            continue
        if m.group("num"):
            out.append(("num", m.group("num"), line, None))
        elif m.group("ident"):
            word = m.group("ident")
            ref = vocab.resolve(word) if re.search(r"\d|_|\.", word) or len(word) <= 3 else None
            if ref is not None and ref.shape is None and not _english(word):
                out.append(("name", word, line, ref))
            else:
                out.append(("word", word, line, None))
        elif m.group("eq"):
            out.append(("eq", m.group("eq"), line, None))
        elif m.group("stop"):
            out.append(("stop", m.group("stop"), line, None))
        else:
            out.append(("other", m.group("other"), line, None))
    return out


def _english(word: str) -> bool:
    """Words that are also names of some quantity (a, e, C, J, L, lr): read as words in prose."""
    return word.lower() in {"a", "e", "c", "j", "i", "l", "t", "x", "y", "h", "o", "loss", "error", "cost", "eta",
                            "alpha", "lr", "mse", "sse", "in", "out", "net"}


def _paragraph(block: list[Piece], vocab: Vocabulary, r: Reading) -> None:
    tokens: list[tuple] = []
    for p in block:
        if p.kind == "prose":
            tokens += _tokens(p, vocab, r)
        elif p.kind == "math":
            written = math_number(p.text)
            if written is not None:
                r.numbers += 1
                tokens.append(("num", written, p.line, "math"))
                continue
            if RELATION.search(p.text) or p.display:
                _math(p, vocab, r)
                tokens.append(("stop", "$", p.line, None))
                continue
            r.numbers += _count_math_numbers(p.text)
            ref = vocab.resolve(p.text)
            if ref is not None and ref.shape is None:
                tokens.append(("name", p.text, p.line, ref))
            else:
                tokens.append(("stop", "$", p.line, None))
    for k, (kind, text, line, extra) in enumerate(tokens):
        if kind != "num":
            continue
        r.numbers += extra != "math"
        c = _claim(line, text)
        if c is None:
            continue
        prev = tokens[k - 1] if k else None
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        if prev and prev[0] == "word" and prev[1].lower() in LABELS:
            continue
        if (prev and prev[1] == "," and k >= 2 and tokens[k - 2][0] == "num") or \
                (after and after[1] == "," and k + 2 < len(tokens) and tokens[k + 2][0] == "num"):
            continue  # an item of a list of numbers
        if after and after[1] in ("%",):
            continue
        if "." not in text and "e" not in text.lower() and extra != "math":
            continue  # an integer in prose: a count, a label, a target ("close to 1", `y1_out = 1`)
        if prev and prev[0] == "eq" and prev[1] in ("=", "≈") and k >= 2 and tokens[k - 2][0] == "name":
            ref = tokens[k - 2][3]
            c.cands, c.tight, c.name = vocab.candidates(ref), True, tokens[k - 2][1]
            r.claims.append(c)
            continue
        found = _near(tokens, k, -1) or _near(tokens, k, +1)
        left, right = _near(tokens, k, -1), _near(tokens, k, +1)
        if left and right:
            found = left if left[0] <= right[0] else right
        if found:
            _, name, ref = found
            c.cands, c.tight, c.name = vocab.candidates(ref, loose=True), False, name
        r.claims.append(c)


def _near(tokens, k: int, step: int):
    words = 0
    j = k + step
    while 0 <= j < len(tokens):
        kind, text, _, extra = tokens[j]
        if kind == "name":
            return (words, text, extra)
        if kind in ("num", "stop", "eq", "other"):
            return None
        words += 1
        if words > MAX_WORDS:
            return None
        j += step
    return None


# --------------------------------------------------------------------------- code


_PRINT = re.compile(r"^\s*print\s*\((.*)\)\s*;?\s*$")
_ASSIGN = re.compile(r"^\s*([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*(?:[-+*/@]?=)(?!=)\s*(.+)$")
_EXPR = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*$")


def _args(text: str) -> list[str]:
    parts, depth, start, quote = [], 0, 0, ""
    for k, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:k].strip())
            start = k + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p and not re.match(r"^(sep|end|file|flush)\s*=", p)]


def _literal(arg: str) -> str | None:
    m = re.fullmatch(r"[fFrRbBuU]?(['\"])(.*)\1", arg.strip(), re.S)
    return m.group(2) if m else None


def _code(block: list[Piece], vocab: Vocabulary, r: Reading) -> None:
    pending: list[list[str]] = []
    last: list[str] = []
    record: list[Piece] = []
    depth = 0
    for p in block:
        if p.kind == "code":
            line = _uncomment(p.text)
            m = _PRINT.match(line)
            if m:
                args = _args(m.group(1))
                if any(_literal(a) is None for a in args):
                    pending.append(args)
                continue
            m = _ASSIGN.match(line)
            if m:
                last = [t.strip() for t in m.group(1).split(",")]
                continue
            m = _EXPR.match(line)
            if m:
                last = [m.group(1)]
            continue
        record.append(p)
        depth += p.text.count("[") + p.text.count("(") - p.text.count("]") - p.text.count(")")
        if depth <= 0:
            _output(record, pending, last, vocab, r)
            record, depth = [], 0
    if record:
        _output(record, pending, last, vocab, r)


def _uncomment(line: str) -> str:
    """A line of Python without its comment (a # inside a string stays)."""
    quote = ""
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:k]
    return line


def _output(record: list[Piece], pending: list[list[str]], last: list[str], vocab: Vocabulary, r: Reading) -> None:
    found: list[tuple[int, str]] = []
    for p in record:
        text = p.text
        for args in pending[:1]:
            for a in args:
                lit = _literal(a)
                if lit:
                    text = text.replace(lit, " ")
        text = re.sub(r"dtype\s*=\s*[\w.]+|device\s*=\s*'[^']*'|requires_grad\s*=\s*\w+|grad_fn\s*=\s*<[^>]*>", " ", text)
        found += [(p.line, m.group(1)) for m in NUMBER.finditer(text)]
    r.numbers += len(found)
    names = None
    for k, args in enumerate(pending):
        named = [a for a in args if _literal(a) is None]
        if len(named) == len(found) or (len(named) == 1 and _matrix(vocab, named[0], len(found))):
            names = named
            del pending[:k + 1]
            break
    else:
        if pending:  # printed by a print whose arguments are no names of the spec (a call, an expression)
            del pending[:1]
        elif last and (len(last) == len(found) or (len(last) == 1 and _matrix(vocab, last[0], len(found)))):
            names = last  # the value of the last assignment (a notebook cell's last line, or the blog style)
    for k, (line, written) in enumerate(found):
        c = _claim(line, written)
        if c is None:
            continue
        c.result = True
        if names:
            name = names[k] if len(names) == len(found) else names[0]
            ref = vocab.resolve(name)
            if ref is not None:
                if ref.shape is None and len(names) == len(found):
                    c.cands, c.tight, c.name = vocab.candidates(ref), True, name
                elif ref.shape is not None:
                    rows, cols = ref.shape
                    node = ref.nodes[k] if not ref.rows_are_instances else ref.nodes[k % cols]
                    c.cands, c.tight, c.name = vocab.candidates(Ref((node,), ref.kind)), True, name
        r.claims.append(c)


def _matrix(vocab: Vocabulary, name: str, count: int) -> bool:
    ref = vocab.resolve(name)
    if ref is None or ref.shape is None or count == 0:
        return False
    rows, cols = ref.shape
    return count == rows * cols if not ref.rows_are_instances else count % cols == 0


# --------------------------------------------------------------------------- another network


#: A list of numbers in brackets. Possessive quantifiers: a long list that does not close (a list of
#: 1001 losses with 1e-15 in it) fails in linear time instead of backtracking through every split of its digits.
_LIST = re.compile(r"[(\[]\s*+(-?\s*+\d++(?:\.\d++)?+(?:\s*+,\s*+-?\s*+\d++(?:\.\d++)?+){2,}+)\s*+[)\]]")
#: An input vector: ``x = (1, 1)``, ``inputs (0.5, 2)``, ``X = np.array([[1., 1.]])``, ``torch.tensor([1., 2.])``.
_INPUT = re.compile(r"(?:\b[xX](?:_?new|_test|\d)?\b|\binputs?\b)\s*(?:=|:|of|is)?\s*\$?\s*(?:\\left)?\s*"
                    r"(?:np\.array\(|torch\.tensor\(|array\()?\s*[(\[]+\s*(-?\s*+\d++(?:\.\d*+)?+(?:\s*+,\s*+-?\s*+\d++(?:\.\d*+)?+)++)"
                    r"\s*+,?\s*+(?:\\right)?\s*+[)\]]")


def _other_network(doc: Document, vocab: Vocabulary) -> list[tuple[int, int]]:
    """Stretches (first line, next heading) that work with other parameters or other inputs than the spec's."""
    if getattr(vocab.d, "kind", None) == "circuit":
        return []  # a circuit's leaves are its inputs and parameters at once: no other network to tell apart
    params = sorted(vocab.d.params.values())
    n = len(params)
    inputs = [tuple(float(v) for v in inst.x) for inst in vocab.d.spec.data]
    n_in = len(inputs[0]) if inputs else 0
    headings = sorted(p.line for p in doc.pieces() if p.kind == "heading")
    regions = []

    def region(start: int) -> None:
        regions.append((start, next((h for h in headings if h > start), 10**9)))

    for p in doc.pieces():
        if p.kind not in ("prose", "math", "code"):
            continue
        text = re.sub(r"\\math(?:bf|rm|it)\s*\{([^{}]*)\}|\\bm\s*\{([^{}]*)\}|\*\*([^*]*)\*\*",
                      lambda m: m.group(1) or m.group(2) or m.group(3) or "", p.text)
        for m in _LIST.finditer(text):
            try:
                values = sorted(float(v.replace(" ", "")) for v in m.group(1).split(","))
            except ValueError:
                continue
            if len(values) != n or values == params:
                continue
            same = sum(min(values.count(v), params.count(v)) for v in set(values))
            if same >= n / 2:
                region(p.line_at(m.start()))
        if n_in < 2:
            continue
        for m in _INPUT.finditer(text):
            try:
                values = tuple(float(v.replace(" ", "")) for v in m.group(1).split(","))
            except ValueError:
                continue
            if len(values) == n_in and values not in inputs:
                region(p.line_at(m.start()))
    return regions
