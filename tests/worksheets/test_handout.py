"""Sheets a teacher can hand out: no all-equal targets or mirrored inputs, a cap on the blanks,
and a variant code on every sheet from which its key is made again."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np

from conftest import ROOT, spec_from
from derive.grade.policy import Rounding
from derive.spec.parse import SCOPES, load_spec
from derive.worksheets.draw import Settings, degenerate, make_variant
from derive.worksheets.write import worksheet_files

NET = """
name = "tiny"
[network]
inputs = 2
loss = "half_sse"
[[network.layers]]
name = "h"
size = 2
activation = "sigmoid"
weights = [[0.3, -0.4], [0.5, 0.2]]
[[network.layers]]
name = "y"
size = 2
activation = "sigmoid"
weights = [[0.6, -0.1], [0.2, 0.7]]
[[data]]
x = [1, 2]
t = [0, 1]
[[data]]
x = [-2, 3]
t = [1, 0]
"""


def test_all_equal_targets_and_mirrored_inputs_are_degenerate():
    fine = spec_from(NET)
    assert degenerate(fine, SCOPES, Rounding(4)) is None
    same_targets = spec_from(NET.replace("t = [0, 1]", "t = [1, 1]").replace("t = [1, 0]", "t = [1, 1]"))
    assert degenerate(same_targets, SCOPES, Rounding(4)) == "every target is the same"
    mirrored = spec_from(NET.replace("x = [1, 2]", "x = [1, -1]").replace("x = [-2, 3]", "x = [-2, 2]"))
    assert "inputs 1 and 2 are opposite in every instance" in degenerate(mirrored, SCOPES, Rounding(4))
    # mirrored in one instance only is fine
    once = spec_from(NET.replace("x = [1, 2]", "x = [1, -1]"))
    assert degenerate(once, SCOPES, Rounding(4)) is None


def test_drawn_variants_have_neither():
    base = load_spec("two-two-two")
    settings = Settings.of(base)
    for k in range(1, 41):
        spec = make_variant(base, settings, 3, k).derivation.spec
        X = np.array([inst.x for inst in spec.data])
        T = np.array([inst.t for inst in spec.data])
        assert not np.all(T == T.flat[0]), k
        assert not np.all(X[:, 1] == -X[:, 0]), k


def _names(key_toml: str) -> list[str]:
    doc = tomllib.loads(key_toml)
    return [f"{t}.{k}" for t, rows in doc.items() if t not in ("tolerance", "rounding", "worksheet")
            for k in rows]


def test_blanks_are_capped_and_spread_over_the_scope():
    base = load_spec("two-two-two")
    full = worksheet_files(base, variants=1, seed=7, formats=("md",))
    capped = worksheet_files(base, variants=1, seed=7, formats=("md",), blanks=10)
    all_names = set(_names(full["variant-01.key.toml"]))
    names = _names(capped["variant-01.key.toml"])
    assert len(names) == 10 and set(names) <= all_names
    tables = {n.split(".")[0] for n in names}
    assert {"instance1", "instance2", "update"} <= tables  # the forward pass and the update both kept
    sheet = capped["variant-01.sheet.md"]
    assert sheet.count("________________ |") == 10
    # the same numbers: a cap changes what is asked, not the draw
    full_key = tomllib.loads(full["variant-01.key.toml"])
    for name in names:
        table, key = name.split(".", 1)
        assert tomllib.loads(capped["variant-01.key.toml"])[table][key] == full_key[table][key]


def test_every_sheet_prints_its_code_and_the_code_makes_its_key_again(tmp_path):
    base = load_spec("two-two-two")
    files = worksheet_files(base, variants=4, seed=11, formats=("md",))
    assert "Variant code: **11-03**" in files["variant-03.sheet.md"]
    assert "--variant 11-03" in files["variant-03.key.md"]
    run = subprocess.run([sys.executable, "-m", "derive", "worksheet", "two-two-two", "--variant", "11-03", "-o",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for name in ("variant-03.key.toml", "variant-03.key.md", "variant-03.sheet.md", "variant-03.toml"):
        assert (tmp_path / name).read_text() == files[name], name
    assert not (tmp_path / "variant-01.toml").exists()
    bad = subprocess.run([sys.executable, "-m", "derive", "worksheet", "two-two-two", "--variant", "eleven", "-o",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--variant" in bad.stderr and "Traceback" not in bad.stderr
