"""``sympy.diff`` of the whole composed loss, for the ``sympy_diff`` check, remembered between runs.

The loss is composed from the leaves: every node's local expression, first written in SymPy's
own functions (σ as exponentials, the kinks with ``Abs``), is substituted into its children's,
up to the loss. SymPy then differentiates that one expression by every parameter. Nothing of
derive's chain rule takes part.

Differentiating costs more than the rest of ``derive values`` for the 2-2-2 network (SymPy's
assumptions are asked thousands of times), and the same composed loss always has the same
derivatives. So the derivatives are kept in the user's cache directory (``$XDG_CACHE_HOME/derive``,
else ``~/.cache/derive``) under a SHA-256 of the composed loss itself: its whole structure (every
symbol with its assumptions, every number exactly), the parameters, SymPy's version and this
file's format. A later run composes the loss again, finds the file of that hash and evaluates
the derivatives it holds; any other composed loss (another network, other weights' names, a new
SymPy) differentiates afresh; without a trusted cache directory (see :mod:`derive.cache`) every
run differentiates. The file is data, never code: a table of operations from :data:`OPERATIONS`
whose arguments are earlier rows, read back only if every row is well formed. A composed loss with
any function outside that list is differentiated every time.

The derivatives are evaluated with mpmath in the instance's working precision (53 bits, or more
for a saturated output unit), row by row, every shared subexpression once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mpmath
import sympy as sp

#: Bump when the table's meaning changes: old files are then ignored.
FORMAT = 1
#: A cache file larger than this is not read (a network small enough for this check needs far less).
MAX_FILE_BYTES = 20_000_000


def _heaviside(x, h0=mpmath.mpf(0.5)):
    return mpmath.mpf(0) if x < 0 else mpmath.mpf(1) if x > 0 else h0


#: The SymPy operations a stored derivative may use, with their mpmath evaluation (args in order).
OPERATIONS = {
    "Add": lambda *a: mpmath.fsum(a),
    "Mul": lambda *a: mpmath.fprod(a),
    "Pow": lambda b, e: b ** e,
    "exp": mpmath.exp,
    "log": mpmath.log,
    "Abs": abs,
    "sign": mpmath.sign,
    "Heaviside": _heaviside,
    "Max": max,
    "Min": min,
}
#: Constants by SymPy class name.
CONSTANTS = {"Exp1": lambda: mpmath.e, "Pi": lambda: mpmath.pi}


class Unsupported(Exception):
    """The expression has an operation outside :data:`OPERATIONS`: it cannot be stored as a table."""


def table(exprs: list[sp.Expr]) -> tuple[list[list], list[int]]:
    """The expressions as one table of rows, each subexpression once: ``(rows, root of each expression)``.

    A row is ``["sym", name, assumptions]``, ``["int", "p"]``, ``["rat", "p", "q"]``,
    ``["float", sign, "mantissa", exponent, bits, precision]``, ``["const", name]`` or ``[operation, i, j, …]``
    over earlier rows.
    """
    rows: list[list] = []
    index: dict = {}

    def visit(e) -> int:
        key = (type(e), e)
        found = index.get(key)
        if found is not None:
            return found
        if e.is_Symbol:
            row = ["sym", e.name, sorted((k, v) for k, v in e.assumptions0.items())]
        elif e.is_Integer:
            row = ["int", str(e.p)]
        elif e.is_Rational:
            row = ["rat", str(e.p), str(e.q)]
        elif e.is_Float:
            sign, man, exp, bits = e._mpf_
            row = ["float", sign, str(man), exp, bits, e._prec]
        elif type(e).__name__ in CONSTANTS and not e.args:
            row = ["const", type(e).__name__]
        else:
            name = type(e).__name__
            if name not in OPERATIONS or type(e).__module__.split(".")[0] != "sympy":
                raise Unsupported(name)
            row = [name, *(visit(a) for a in e.args)]
        rows.append(row)
        index[key] = len(rows) - 1
        return len(rows) - 1

    roots = [visit(e) for e in exprs]
    return rows, roots


def evaluate(rows: list[list], roots: list[int], values: dict[str, float], bits: int) -> list[float]:
    """Every root's value in ``bits``-bit arithmetic, the symbols given by name; NaN where not real."""
    with mpmath.workprec(bits):
        out: list = []
        for row in rows:
            kind = row[0]
            if kind == "sym":
                out.append(mpmath.mpf(values[row[1]]))
            elif kind == "int":
                out.append(mpmath.mpf(int(row[1])))
            elif kind == "rat":
                out.append(mpmath.mpf(int(row[1])) / int(row[2]))
            elif kind == "float":
                sign, man, exp, bits_ = row[1], int(row[2]), row[3], row[4]
                out.append(mpmath.mpf((sign, man, exp, bits_)))
            elif kind == "const":
                out.append(+CONSTANTS[row[1]]())
            else:
                try:
                    out.append(OPERATIONS[kind](*(out[i] for i in row[1:])))
                except (ZeroDivisionError, ValueError, OverflowError):
                    out.append(mpmath.nan)
        return [_real(out[r]) for r in roots]


def _real(x) -> float:
    if isinstance(x, mpmath.mpc):
        if x.imag != 0:
            return float("nan")
        x = x.real
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return float("nan")


def composed(graph) -> sp.Expr:
    """The loss as one expression of the leaves, each local expression written with SymPy's functions only.

    Composed unevaluated (cheap, and the same every time: the cache's key); :func:`evaluated` rebuilds it.
    """
    full: dict[sp.Symbol, sp.Expr] = {}
    with sp.evaluate(False):
        for node in graph.nodes.values():
            if node.expr is not None:
                full[node.symbol] = node.expr.rewrite(sp.exp).rewrite(sp.Abs).xreplace(full)
    return full[graph[graph.loss_key].symbol]


def evaluated(expr: sp.Expr, memo: dict | None = None) -> sp.Expr:
    """An unevaluated expression rebuilt with SymPy's evaluation (what composing normally gives)."""
    memo = {} if memo is None else memo
    if not expr.args:
        return expr
    if expr in memo:
        return memo[expr]
    memo[expr] = out = expr.func(*(evaluated(a, memo) for a in expr.args))
    return out


@dataclass(frozen=True)
class Derivatives:
    """∂L/∂θ of the composed loss for every parameter, as rows of :func:`table`, or as SymPy expressions."""

    params: tuple[str, ...]
    rows: list[list] | None
    roots: list[int] | None
    exprs: dict[str, sp.Expr] | None = None
    """Set when the derivatives could not be made a table (an operation outside OPERATIONS)."""
    cached: bool = False
    """Whether they were read from the cache rather than differentiated in this run."""

    def values(self, leaves: dict[str, float], bits: int) -> dict[str, float]:
        """Every derivative at the leaves' values (by key), in ``bits``-bit arithmetic; NaN where not real."""
        if self.rows is not None:
            return dict(zip(self.params, evaluate(self.rows, self.roots, leaves, bits)))
        out = {}
        for key, expr in self.exprs.items():
            env = {s: sp.Float(leaves[s.name], precision=bits) for s in expr.free_symbols}
            value = expr.xreplace(env).evalf()
            out[key] = float(value) if value.is_real else float("nan")
        return out


def cache_dir() -> Path | None:
    from derive.cache import user_cache_dir

    return user_cache_dir("sympy-diff")


def loss_derivatives(graph, directory: Path | None = None) -> Derivatives:
    """sympy.diff of the composed loss by every parameter, read from the cache when this loss was seen before.

    ``directory``: where to keep them (default :func:`cache_dir`; ``False`` keeps nothing).
    """
    params = graph.parameters
    keys = tuple(p.key for p in params)
    loss = composed(graph)
    try:
        key_rows, key_roots = table([loss, *(p.symbol for p in params)])
    except Unsupported:
        key_rows = None
    directory = cache_dir() if directory is None else directory  # None: no trusted cache directory
    path = None
    if key_rows is not None and directory:
        key = json.dumps({"format": FORMAT, "sympy": sp.__version__, "loss": key_rows, "roots": key_roots,
                          "params": keys}, separators=(",", ":"))
        path = Path(directory) / f"{hashlib.sha256(key.encode()).hexdigest()}.json"
        stored = _read(path, key, {row[1] for row in key_rows if row[0] == "sym"})
        if stored is not None:
            return Derivatives(keys, stored[0], stored[1], cached=True)
    full = evaluated(loss)
    exprs = {p.key: sp.diff(full, p.symbol) for p in params}
    try:
        rows, roots = table(list(exprs.values()))
    except Unsupported:
        return Derivatives(keys, None, None, exprs=exprs)
    if path is not None:
        _write(path, key, rows, roots)
    return Derivatives(keys, rows, roots)


def _read(path: Path, key: str, names: set[str]):
    """(rows, roots) stored under ``key`` at ``path``, or None (absent, unreadable, or not a well-formed table
    over the symbols ``names``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return None
        data = json.loads(raw)
        if data.get("key") != key:
            return None
        rows, roots = data["rows"], data["roots"]
        _validate(rows, roots)
        if any(row[0] == "sym" and row[1] not in names for row in rows):
            return None
        return rows, roots
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _validate(rows, roots) -> None:
    """Raise ValueError unless every row is well formed and refers only to earlier rows."""
    if not isinstance(rows, list) or not isinstance(roots, list):
        raise ValueError("not a table")
    for n, row in enumerate(rows):
        if not isinstance(row, list) or not row or not isinstance(row[0], str):
            raise ValueError("bad row")
        kind, args = row[0], row[1:]
        if kind == "sym":
            ok = len(args) == 2 and isinstance(args[0], str)
        elif kind == "int":
            ok = len(args) == 1 and isinstance(args[0], str) and _is_int(args[0])
        elif kind == "rat":
            ok = len(args) == 2 and all(isinstance(a, str) and _is_int(a) for a in args) and int(args[1]) != 0
        elif kind == "float":
            ok = (len(args) == 5 and args[0] in (0, 1) and isinstance(args[1], str) and args[1].isdigit()
                  and all(isinstance(a, int) and not isinstance(a, bool) for a in args[2:]))
        elif kind == "const":
            ok = len(args) == 1 and args[0] in CONSTANTS
        else:
            ok = kind in OPERATIONS and bool(args) and all(
                isinstance(a, int) and not isinstance(a, bool) and 0 <= a < n for a in args)
        if not ok:
            raise ValueError(f"bad row {n}")
    if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < len(rows) for r in roots):
        raise ValueError("bad root")


def _is_int(s: str) -> bool:
    return len(s) < 4000 and s.lstrip("-").isdigit()


def _write(path: Path, key: str, rows, roots) -> None:
    """Store the table (atomically: a reader sees the old file or the new one); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"key": key, "rows": rows, "roots": roots}, f, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
