"""Time `derive` against the naive baseline and write the tables into docs/benchmarks.md.

    python benchmarks/run.py [--repeat 5] [--baseline-timeout 300] [--startup-only]

The start-up table (issue 14) times `derive values two-two-two` and `derive render two-two-two
-o DIR` against the floor `python -c "import sympy, numpy"`: the three commands run in turn,
`max(repeat, 7)` rounds, and each row keeps its minimum (wall clock, and CPU time of the child:
user + system), so that other work on a shared machine, which only ever adds time, counts as
little as it can; the ratios divide minimum by minimum. `--startup-only` writes that table alone.

Each derive case runs as a whole process (`derive values SPEC`, start-up included), `repeat`
times; the table shows the median. The baseline composes the whole loss of the same network
into one SymPy expression and calls `sympy.diff` on it for every weight (what a naive tool
does), in a subprocess stopped after `--baseline-timeout` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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
STARTUP_BEGIN, STARTUP_END = "<!-- startup table: begin -->", "<!-- startup table: end -->"

#: (label, argv after `python -m derive`, target as a multiple of the floor, with derive's cache emptied before each run)
STARTUP = [
    ("`derive values two-two-two`", ["values", "two-two-two"], 1.25, False),
    ("`derive values two-two-two`, a first run (derive's cache empty: sympy.diff and the parser's tables computed)",
     ["values", "two-two-two"], None, True),
    ("`derive render two-two-two -o DIR` (Markdown and its three SVG pictures)", ["render", "two-two-two", "-o"], 2.0,
     False),
    ("`derive render two-two-two -o DIR`, a first run (derive's cache empty)", ["render", "two-two-two", "-o"], None,
     True),
]
VERIFY_BEGIN, VERIFY_END = "<!-- self-verification table: begin -->", "<!-- self-verification table: end -->"

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


#: The share of `derive render` that checking every chain of the page takes: (label, spec, views).
VERIFY_CASES = [
    ("two-two-two", "two-two-two", "scalar"),
    ("4-8-8-4 sigmoid", (4, 8, 8, 4), "scalar"),
    ("3-4-3-2 tanh/softmax/cross-entropy, 3 instances, all views", "softmax", "scalar,matrix,tape"),
]

#: One `derive render` in a fresh process, its CPU time from before derive is imported (other work on a
#: shared machine inflates wall time, not CPU time), with the time spent in the check of the page's
#: chains (verify_page) taken apart.
VERIFY_RUN = r"""
import gc, json, sys, time
start = time.process_time()
from derive.cli import GC_THRESHOLDS, main
gc.set_threshold(*GC_THRESHOLDS)  # as the command runs
from derive.verify import chains
spent = [0.0]
real = chains.verify_page
def timed(*args, **kwargs):
    t = time.process_time()
    try:
        return real(*args, **kwargs)
    finally:
        spent[0] += time.process_time() - t
chains.verify_page = timed
try:
    main(["render", sys.argv[1], "-f", sys.argv[2], "--views", sys.argv[3], "--no-pictures", "-o", sys.argv[4]])
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(json.dumps({"total": time.process_time() - start, "checks": spent[0]}), file=sys.stderr)
"""


def softmax_spec() -> str:
    rng = np.random.default_rng(3)
    sizes = (3, 4, 3, 2)
    lines = ['name = "softmax"', "[network]", f"inputs = {sizes[0]}", 'loss = "cross_entropy"']
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        act = "softmax" if k == len(sizes) - 2 else "tanh"
        lines += ["[[network.layers]]", f"size = {n_out}", f'activation = "{act}"',
                  f"weights = {json.dumps(np.round(rng.normal(0, 1, (n_in, n_out)), 3).tolist())}",
                  f"bias = {json.dumps(np.round(rng.normal(0, 0.5, n_out), 3).tolist())}"]
    for n in range(3):
        lines += ["[[data]]", f"x = {json.dumps(np.round(rng.normal(0, 1, sizes[0]), 2).tolist())}", f"t = {n % 2 + 1}"]
    return "\n".join(lines) + "\n"


def verify_rows(repeat: int, tmp: Path) -> list[str]:
    """Rows of the self-verification table: render time, check time and their ratio, per case and format."""
    rows = []
    for label, spec, views in VERIFY_CASES:
        if isinstance(spec, tuple):
            path = tmp / "verify-bench.toml"
            path.write_text(spec_text(spec))
            spec = str(path)
        elif spec == "softmax":
            path = tmp / "verify-softmax.toml"
            path.write_text(softmax_spec())
            spec = str(path)
        for fmt in ("md", "html", "tex"):
            totals, checks = [], []
            for _ in range(repeat):
                run = subprocess.run([sys.executable, "-c", VERIFY_RUN, spec, fmt, views, str(tmp / "rendered")],
                                     capture_output=True, text=True, check=True)
                timing = json.loads(run.stderr.strip().splitlines()[-1])
                totals.append(timing["total"])
                checks.append(timing["checks"])
            total, check = statistics.median(totals), statistics.median(checks)
            rows.append(f"| {label} | {fmt} | {total:.2f} s | {check:.3f} s | {100 * check / total:.0f} % |")
            print(rows[-1], flush=True)
    return rows


def time_command(argv, repeat: int) -> tuple[float, float]:
    """The median wall-clock and CPU seconds (user + system of the child and its workers) of ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = run_once(argv)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


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


def run_once(argv, env=None) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system of the child) of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_table(repeat: int) -> str:
    """The start-up ratios: each command's minimum over interleaved rounds, divided by the floor's."""
    rounds = max(repeat, 7)
    with tempfile.TemporaryDirectory() as tmp:
        commands = [("floor", [sys.executable, "-c", "import sympy, numpy"], False)]
        commands += [(label, [sys.executable, "-m", "derive", *argv] + ([tmp] if argv[-1] == "-o" else []), empty)
                     for label, argv, _, empty in STARTUP]
        for _, argv, _ in commands:  # once first, as an install leaves it: .pyc files written, derive's cache filled
            run_once(argv)
        best = {label: [float("inf"), float("inf")] for label, _, _ in commands}
        for n in range(rounds):
            for label, argv, empty in commands:
                env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(dir=tmp)) if empty else None
                wall, cpu = run_once(argv, env)
                best[label] = [min(best[label][0], wall), min(best[label][1], cpu)]
    floor_wall, floor_cpu = best["floor"]
    rows = [f"| floor: `python -c \"import sympy, numpy\"` | {floor_wall:.3f} s | 1 | {floor_cpu:.3f} s | 1 | | |"]
    for label, _, target, _ in STARTUP:
        wall, cpu = best[label]
        verdict = "" if target is None else "met" if wall / floor_wall <= target else "**missed**"
        rows.append(f"| {label} | {wall:.3f} s | {wall / floor_wall:.2f} | {cpu:.3f} s | {cpu / floor_cpu:.2f} "
                    f"| {'' if target is None else f'≤ {target:g}'} | {verdict} |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    return "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.1f} when done: the minimum of "
        f"{rounds} interleaved runs of each command (process start included).",
        "",
        "| command | wall (min) | × floor | CPU (min) | × floor | target (× floor, wall) | |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])


def replace_block(begin: str, end: str, table: str) -> None:
    text = DOC.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    DOC.write_text(text[:start] + "\n" + table + "\n" + text[stop:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-timeout", type=float, default=300.0)
    parser.add_argument("--startup-only", action="store_true", help="only the start-up table of issue 14")
    parser.add_argument("--only-verify", action="store_true", help="measure only the self-verification table")
    args = parser.parse_args()
    # Time derive as installed: pip writes .pyc files, so every run here may too (this machine's
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile derive's modules from source in every run).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if not args.only_verify:
        replace_block(STARTUP_BEGIN, STARTUP_END, startup_table(args.repeat))
        print(f"wrote {DOC} (start-up table)")
    if not args.startup_only:
        with tempfile.TemporaryDirectory() as tmp:
            rows = verify_rows(args.repeat, Path(tmp))
        replace_block(VERIFY_BEGIN, VERIFY_END, "\n".join([
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {platform.python_implementation()} "
            f"{platform.python_version()}, median of {args.repeat} runs: `derive render SPEC -f FMT --no-pictures` in a "
            "fresh process, its CPU time from before derive is imported; *checks* is the CPU time spent verifying the "
            "page's chains (the Markdown, then the html or tex written from it).",
            "",
            "| case | format | render | checks | share |",
            "|---|---|---|---|---|",
            *rows,
        ]))
        print(f"wrote {DOC} (self-verification table)")
    if args.startup_only or args.only_verify:
        return
    floor, floor_cpu = time_command([sys.executable, "-c", "import sympy, numpy"], args.repeat)
    rows = [f"| start-up floor: `python -c 'import sympy, numpy'` | {floor:.2f} s | 1 | {floor_cpu:.2f} s | 1 | | | |"]
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
            ours, cpu = time_command(argv, args.repeat)
            baseline = time_baseline(spec, args.baseline_timeout) if command == "values" else "—"
            verdict = "—" if target is None else ("met" if ours < target else "**missed**")
            rows.append(f"| {label} | {ours:.2f} s | {ours / floor:.2f} | {cpu:.2f} s | {cpu / floor_cpu:.2f} "
                        f"| {'—' if target is None else f'< {target:g} s'} | {verdict} | {baseline} |")
            print(rows[-1], flush=True)
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, median of {args.repeat} runs (process start included), load average "
        f"{os.getloadavg()[0]:.1f} when done.",
        "",
        "The first row is the floor every run pays before derive does anything: starting Python and",
        "importing SymPy and NumPy. *× floor* divides a row's wall time, and its CPU time (user + system",
        "of the process and its workers), by the floor's; the targets are wall times.",
        "",
        "| case | derive (wall) | × floor | CPU | × floor | target (wall) | | naive `sympy.diff` of the whole loss, "
        "every weight |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    replace_block(BEGIN, END, table)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
