"""Time `derive` against the naive baseline and write the table into docs/benchmarks.md.

    python benchmarks/run.py [--repeat 5] [--baseline-timeout 300]

Each derive case runs as a whole process (`derive values SPEC`, start-up included), `repeat`
times; the table shows the median. The baseline composes the whole loss of the same network
into one SymPy expression and calls `sympy.diff` on it for every weight (what a naive tool
does), in a subprocess stopped after `--baseline-timeout` seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmark table: begin -->", "<!-- benchmark table: end -->"

#: (label, layer sizes, command, target in seconds)
CASES = [
    ("4-8-8-4 sigmoid, `derive values`", (4, 8, 8, 4), "values", 1.5),
    ("8-16-16-8 sigmoid, `derive values`", (8, 16, 16, 8), "values", 4.0),
    ("12-layer 1-wide chain, `derive values`", (1,) * 13, "values", 1.0),
    ("4-8-8-4 sigmoid, `derive render -f md`", (4, 8, 8, 4), "render", 4.0),
    ("2-2-2-2-2-2 sigmoid, `derive values`", (2,) * 6, "values", None),
    ("100 variants of 2-2-2, `derive worksheet` (sheets and keys in md)", None, "worksheet", 20.0),
    ("300 submissions of 10 variants, `derive check VARIANTS SUBMISSIONS -o REPORT`", None, "class", 15.0),
]

BASELINE = r"""
import sys, time
import sympy as sp
from derive.spec.parse import load_spec
from derive.core.graph import build_graph
graph = build_graph(load_spec(sys.argv[1]))
full = {}
for node in graph.nodes.values():
    if node.expr is not None:
        full[node.symbol] = node.expr.xreplace(full)
loss = full[graph["L"].symbol].rewrite(sp.exp)
start = time.perf_counter()
for p in graph.parameters:
    if p.role == "weight":
        sp.diff(loss, p.symbol)
print(time.perf_counter() - start)
"""


def spec_text(sizes) -> str:
    rng = np.random.default_rng(0)
    lines = ['name = "bench"', "[network]", f"inputs = {sizes[0]}", 'loss = "sse"']
    for n_in, n_out in zip(sizes, sizes[1:]):
        lines += ["[[network.layers]]", f"size = {n_out}", 'activation = "sigmoid"',
                  f"weights = {json.dumps(np.round(rng.normal(0, 1, (n_in, n_out)), 2).tolist())}"]
    lines += ["[[data]]", f"x = {json.dumps(np.round(rng.normal(0, 1, sizes[0]), 2).tolist())}",
              f"t = {json.dumps(np.round(rng.uniform(0, 1, sizes[-1]), 2).tolist())}"]
    return "\n".join(lines) + "\n"


def time_command(argv, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_baseline(spec: Path, timeout: float) -> str:
    try:
        run = subprocess.run([sys.executable, "-c", BASELINE, str(spec)], capture_output=True, text=True,
                             timeout=timeout, check=True)
        return f"{float(run.stdout):.2f} s"
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s (stopped)"


def class_argv(tmp: Path) -> list[str]:
    """A worksheet of 10 variants and 300 simulated answers files (derive.grade.classroom.simulated_class)."""
    subprocess.run([sys.executable, "-m", "derive", "worksheet", "two-two-two", "--variants", "10", "--seed", "1",
                    "-o", str(tmp / "variants")], check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "import sys; from derive.grade.classroom import simulated_class; "
                    "simulated_class(sys.argv[1], sys.argv[2], 300, seed=1)", str(tmp / "variants"),
                    str(tmp / "submissions")], check=True)
    return [sys.executable, "-m", "derive", "check", str(tmp / "variants"), str(tmp / "submissions"), "-o",
            str(tmp / "report")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-timeout", type=float, default=300.0)
    args = parser.parse_args()
    floor = time_command([sys.executable, "-c", "import sympy, numpy"], args.repeat)
    rows = [f"| start-up floor: `python -c 'import sympy, numpy'` | {floor:.2f} s | | | |"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, sizes, command, target in CASES:
            if command == "worksheet":
                argv = [sys.executable, "-m", "derive", "worksheet", "two-two-two", "--variants", "100", "--seed",
                        "1", "-o", str(Path(tmp) / "sheets")]
            elif command == "class":
                argv = class_argv(Path(tmp))
            else:
                spec = Path(tmp) / f"{'-'.join(map(str, sizes))}.toml"
                spec.write_text(spec_text(sizes))
                argv = [sys.executable, "-m", "derive", command, str(spec)]
            ours = time_command(argv, args.repeat)
            baseline = time_baseline(spec, args.baseline_timeout) if command == "values" else "—"
            verdict = "—" if target is None else ("met" if ours < target else "**missed**")
            rows.append(f"| {label} | {ours:.2f} s | {'—' if target is None else f'< {target:g} s'} | {verdict} "
                        f"| {baseline} |")
            print(rows[-1], flush=True)
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, median of {args.repeat} runs (process start included).",
        "",
        "The first row is the floor every run pays before derive does anything: starting Python and",
        "importing SymPy and NumPy.",
        "",
        "| case | derive | target | | naive `sympy.diff` of the whole loss, every weight |",
        "|---|---|---|---|---|",
        *rows,
    ])
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
