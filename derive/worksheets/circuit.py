"""`derive worksheet` of a circuit: variants with random leaf values, blanks for every value and gradient, keys.

Variant k draws its leaves from a generator seeded by (seed, k) alone, from the spec's
``[worksheet] inputs`` range (default: the whole numbers −5 … 5 but 0), and draws again while
the circuit has no value there (a log of a non-positive number, a division by zero), sits on a kink
(ReLU at 0, a max of equal values: the gradient there is a convention) or grows beyond 10⁴. Per
variant: its spec, a blank answers file and the filled key (for `derive check`), the sheet and
the key in Markdown with the circuit's picture (the sheet's shows the leaves' values only), and
for ``-f pdf`` one PDF of all sheets and one of all keys.
"""

from __future__ import annotations

import math

import numpy as np

from derive.errors import SpecError, UsageError
from derive.i18n import N_, _
from derive.spec.parse import Range

FORMATS = ("md", "pdf")
DEFAULT_RANGE = Range(low=-5, high=5, decimals=0, nonzero=True)
MAX_ATTEMPTS = 100
LARGEST = 1e4


def _draw(rng: np.random.Generator, r: Range, n: int) -> list[float]:
    step = 10.0 ** -r.decimals
    lo, hi = math.ceil(r.low / step - 1e-9), math.floor(r.high / step + 1e-9)
    ks = np.arange(lo, hi + 1)
    if r.nonzero:
        ks = ks[ks != 0]
    return [float(np.round(k * step, r.decimals)) + 0.0 for k in rng.choice(ks, size=n)]


def make_circuit_variant(base, seed: int, k: int):
    """Variant k's derivation (from 1), redrawn while degenerate."""
    from dataclasses import replace

    from derive.pipeline import derive
    from derive.verify.circuit import on_kink

    r = (base.worksheet.inputs if base.worksheet is not None and base.worksheet.inputs is not None
         else DEFAULT_RANGE)
    rng = np.random.default_rng([seed, k])
    reason = ""
    for _ in range(MAX_ATTEMPTS):
        leaves = dict(zip([n for n, _ in base.inputs], _draw(rng, r, len(base.inputs))))
        spec = replace(base.with_inputs(leaves), name=f"{base.name}-variant-{k:02d}", training=None, parameters=(),
                       title=f"{base.title} (worksheet variant {k:02d})")
        try:
            d = derive(spec, symbolic=False)
        except SpecError as exc:
            reason = exc.message
            continue
        numbers = list(d.value.values()) + list(d.grad.values())
        if not all(math.isfinite(x) and abs(x) <= LARGEST for x in numbers):
            reason = f"a value beyond {LARGEST:g}"
            continue
        kinks = on_kink(d)
        if kinks:
            reason = f"a kink at {kinks[0]}"
            continue
        return d
    raise SpecError(base.source, "worksheet.inputs", f"variant {k}: {MAX_ATTEMPTS} draws had no usable circuit (the "
                                                     f"last: {reason}); change the range")


def dump_circuit(spec, comment: str = "") -> str:
    """A circuit spec as TOML that reads back to the same circuit."""
    from derive.spec.parse import _toml_string

    lines = [f"# {comment}"] if comment else []
    lines += [f"name = {_toml_string(spec.name)}", f"title = {_toml_string(spec.title)}"]
    if spec.description:
        lines.append(f"description = {_toml_string(spec.description)}")
    lines += ["", "[circuit]", "inputs = { " + ", ".join(f"{k} = {v!r}" for k, v in spec.inputs) + " }",
              "nodes = [" + ", ".join(_toml_string(f"{n.name} = {n.text}") for n in spec.nodes) + "]",
              f"output = {_toml_string(spec.output)}"]
    return "\n".join(lines) + "\n"


def circuit_worksheet_files(base, *, variants: int, seed: int, formats: tuple[str, ...] = ("md",),
                            decimals: int | None = None, blanks: int | None = None, only: int | None = None,
                            progress=None) -> dict[str, str | bytes]:
    from derive.grade.circuit import answers_file, circuit_catalogue
    from derive.render.circuit import CircuitPage, draw_circuit
    from derive.render.escape import md_prose
    from derive.render.markdown import sections
    from derive.render.page import environment, render
    from derive.worksheets.lms import variant_code

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"-f: format '{unknown[0]}' is not available for a circuit; available: {', '.join(FORMATS)}")
    ws = base.worksheet
    decimals = decimals if decimals is not None else (ws.decimals if ws is not None else 4)
    most = blanks if blanks is not None else (ws.blanks if ws is not None else None)
    env = environment()
    title = _("Worksheet: %(title)s") % {"title": md_prose(base.title, field="title", one_line=True)}
    unit = 10.0 ** -decimals
    files: dict[str, str | bytes] = {}
    sheets, keys, figures, rows = [], [], {}, []
    numbers = [only] if only is not None else list(range(1, variants + 1))
    for k in numbers:
        d = make_circuit_variant(base, seed, k)
        stem, code = f"variant-{k:02d}", variant_code(seed, k)
        catalogue = list(circuit_catalogue(d).values())
        if most is not None and most < len(catalogue):
            picks = sorted({round(i * (len(catalogue) - 1) / max(1, most - 1)) for i in range(most)})
            catalogue = [catalogue[i] for i in picks]
        key = {q.key: round(q.value, decimals) + 0.0 for q in catalogue}
        page = CircuitPage(d)
        heading = [f"Answers for worksheet variant {k:02d} of {base.name} (code {code}): fill in each \"\" (to "
                   f"{decimals} decimal places)", f"and run: derive check {stem}.toml {stem}.answers.toml",
                   f"[tolerance] atol = {unit:g} (one unit of the last decimal), rtol = 0.001"]
        tolerance = f"\n[tolerance]\natol = {unit!r}\nrtol = 0.001\n"
        only_names = {q.key for q in catalogue}
        files[f"{stem}.toml"] = dump_circuit(d.spec, comment=f"Worksheet variant {k:02d} of {base.name} "
                                                             f"({base.shown_source}), drawn with seed {seed}.")
        files[f"{stem}.answers.toml"] = answers_file(d, filled=False, only=only_names, heading=heading) + tolerance
        files[f"{stem}.key.toml"] = answers_file(d, filled=True, only=only_names, values=key,
                                                 heading=[f"The key of worksheet variant {k:02d} of {base.name}."]) \
            + tolerance
        worked = {h: text for h, text in sections(render(d, fragment=True)) if h is not None}
        steps = "\n".join(worked[_(h)] for h in (N_("Forward pass"), N_("Local gradients"), N_("Backward pass"))
                          if _(h) in worked)

        def label(q, page=page):
            return f"${page.name(q.node)}$" if q.kind == "value" else f"${page.grad_name(q.node)}$"

        def sheet(is_key: bool, picture: str) -> str:
            return env.get_template("circuit_worksheet.md.j2").render(
                d=d, page=page, key=is_key, title=title, picture=picture, code=code, base_name=base.name,
                stem=stem, label=label, blanks=catalogue, answer=lambda q: f"{key[q.key]:.{decimals}f}",
                steps=steps, decimals=decimals, unit=unit, number=f"{k:02d}")

        this_rows = [(label(q), q.key, f"{key[q.key]:.{decimals}f}") for q in catalogue]
        rows.append((f"{k:02d}", this_rows))
        if "md" in formats:
            svg = f"{stem}-circuit.svg"
            files[svg] = draw_circuit(d, "svg", reveal=False)
            files[f"{stem}.sheet.md"] = sheet(False, svg)
            files[f"{stem}.key.md"] = sheet(True, svg)
        if "pdf" in formats:
            figure = f"{stem}-circuit.pdf"
            figures[figure] = draw_circuit(d, "pdf", reveal=False)
            sheets.append((_("Variant %(label)s") % {"label": f"{k:02d}"}, sheet(False, figure)))
            keys.append((_("Variant %(label)s: answer key") % {"label": f"{k:02d}"}, sheet(True, figure)))
        if progress:
            progress(k)
    if "md" in formats:
        files["keys.md"] = env.get_template("circuit_worksheet_keys.md.j2").render(
            title=title, base=base, seed=seed, variants=rows, decimals=decimals)
    if "pdf" in formats:
        from derive.render.tex import compile_pdf, inline, markdown_to_latex

        for name, pages in (("sheets", sheets), ("keys", keys)):
            tex = env.get_template("worksheets.tex.j2").render(
                pages=[(inline(h), markdown_to_latex(body)) for h, body in pages])
            files[f"{name}.pdf"] = compile_pdf(tex, name, figures)
    return files
