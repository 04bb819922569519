"""Jupyter notebooks: the worked example's Markdown in cells, and code cells that recompute it.

The Markdown is cut at its ``##`` headings, one cell a section. The code comes from the template
``notebook.py.j2`` in the percent format (``# %% <section>`` starts a cell): each cell follows the
section it names, so that every number is recomputed by plain NumPy right after the text that
derives it, and checked against the derivation. Pictures travel inside the notebook as
attachments of their Markdown cells.
"""

from __future__ import annotations

import base64
import json
import re

import jinja2

from derive.core.activations import activation_of
from derive.core.derivation import Derivation
from derive.core.layers import layer_type
from derive.render.markdown import sections

MARKER = re.compile(r"^# %% (.+)$", flags=re.M)


def code_cells(env: jinja2.Environment, d: Derivation) -> list[tuple[str, str]]:
    """(section heading, code) of every code cell, in order."""
    spec = d.spec
    X = [d.to_values()["instances"][n]["x"] for n in range(len(spec.data))] if spec.input_shape else \
        [list(inst.x) + [v for _k, v in inst.extra] for inst in spec.data]
    masked, offset = {}, len(spec.inputs)
    for layer in spec.layers:  # the columns of each layer's per-instance values (dropout masks) after the inputs
        size = len(layer_type(layer).extra(layer, 0)) if spec.data else 0
        if size:
            masked[layer.name] = [offset, offset + size]
        offset += size
    T = [list(inst.t) for inst in spec.data]
    text = env.get_template("notebook.py.j2").render(
        spec=spec, values=_as_arrays(d, d.to_values()), X=X, T=T, kind=layer_type, coupled=d.coupled, last=spec.layers[-1].name, activation=activation_of,
        masked=masked, sources=[spec.layers[layer_type(layer).source(layer)].name for layer in spec.layers
                                if layer_type(layer).source(layer) is not None],
        loss=d.graph.loss, penalized=penalized(d),
        batches=[list(rows) for rows in spec.training.batches(len(spec.data))] if spec.training else [],
        py=lambda v: json.dumps(v, allow_nan=False))
    parts = MARKER.split(text)
    return [(parts[i].strip(), parts[i + 1].strip("\n") + "\n") for i in range(1, len(parts) - 1, 2)]


def _as_arrays(d: Derivation, values: dict) -> dict:
    """The JSON with each batch normalization's γ and β as the notebook holds them: ``W_bn`` (one row) and ``b_bn``."""
    names = {layer.name for layer in d.spec.layers if layer_type(layer).couples}

    def fix(tree):
        if isinstance(tree, dict):
            for name in names & set(tree):
                entry = tree[name]
                if isinstance(entry, dict) and "gamma" in entry:
                    gamma = entry.pop("gamma")
                    entry["weights"] = {k: [v] for k, v in gamma.items()} if isinstance(gamma, dict) else [gamma]
                    entry["bias"] = entry.pop("beta")
            for layer in d.spec.layers:  # a layer whose JSON splits its arrays (rnn) joins them again
                if isinstance(tree.get(layer.name), dict):
                    layer_type(layer).notebook_json(tree[layer.name])
            for v in tree.values():
                fix(v)
        elif isinstance(tree, list):
            for v in tree:
                fix(v)
        return tree
    return fix(values)


def penalized(d: Derivation) -> list[str]:
    """The notebook's names (``W_h``, ``b_y``) of the parameter arrays the regularization term covers."""
    reg = d.spec.regularization
    if reg is None:
        return []
    out = []
    for layer in d.spec.layers:
        if reg.covers("weight"):
            out.append(f"W_{layer.name}")
        if layer.bias is not None and layer.train_bias and reg.covers("bias"):
            out.append(f"b_{layer.name}")
    return out


def notebook(markdown: str, code: list[tuple[str, str]], pictures: dict[str, bytes], *, title: str) -> str:
    """The .ipynb text: Markdown sections, each followed by the code cell of its heading."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    pending = list(code)
    cells = []
    for heading, chunk in sections(markdown):
        cell = new_markdown_cell(chunk.rstrip("\n"))
        linked = [f for f in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", chunk) if f in pictures]
        if linked:
            for file in linked:
                cell.source = cell.source.replace(f"]({file})", f"](attachment:{file})")
            cell.attachments = {f: {"image/svg+xml": base64.b64encode(pictures[f]).decode("ascii")} for f in linked}
        cells.append(cell)
        for item in [c for c in pending if c[0] == heading]:
            cells.append(new_code_cell(item[1].rstrip("\n")))
            pending.remove(item)
    cells += [new_code_cell(source.rstrip("\n")) for _, source in pending]
    for n, cell in enumerate(cells):
        cell.id = f"cell-{n + 1:03d}"  # stable ids: the same spec gives the same bytes
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "title": title,
    })
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"
