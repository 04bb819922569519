"""Worksheets of a batch-normalization network: variants drawn (γ one row, β), keys that `derive check` passes,
rounding carried through the batch's statistics."""

from __future__ import annotations

import numpy as np
import pytest

from derive.grade.answers import read_answers
from derive.grade.judge import check_answers
from derive.grade.policy import Rounding, policy_values
from derive.pipeline import derive
from derive.spec.parse import load_spec
from derive.worksheets.write import worksheet_files


@pytest.mark.parametrize("carry", [False, True])
def test_every_key_passes_and_the_variants_differ(tmp_path, carry):
    files = worksheet_files(load_spec("batch-norm"), variants=2, seed=4, formats=("md",), carry=carry)
    gammas = []
    for k in (1, 2):
        (tmp_path / "v.toml").write_text(files[f"variant-{k:02d}.toml"])
        (tmp_path / "key.toml").write_text(files[f"variant-{k:02d}.key.toml"])
        d = derive(load_spec(tmp_path / "v.toml"))
        assert d.coupled
        report = check_answers(d, read_answers(tmp_path / "key.toml", d))
        assert report.ok, [v.name for v in report.verdicts if v.status != "correct"]
        gammas.append(d.spec.layers[1].weights)
        key = files[f"variant-{k:02d}.key.toml"]
        assert "[batch]" in key and "bn1_mean = " in key and '"dL/dbn2_var" = ' in key and "bn1_hat = " in key
    assert gammas[0] != gammas[1] and len(gammas[0]) == 1


def test_carried_rounding_goes_through_the_statistics():
    d = derive(load_spec("batch-norm"))
    got = policy_values(d, Rounding(2, carry=True))
    r = Rounding(2)
    # by hand, each quantity computed from the rounded ones before it and rounded: the sums, the statistics, x̂
    X = np.array([i.x for i in d.spec.data])
    W = np.array(d.spec.layers[0].weights)
    z = [r(v) for v in (X @ W)[:, 0]]
    mean = r(sum(z) / 3)
    var = r(sum((v - mean) ** 2 for v in z) / 3)
    hat = r((z[0] - mean) / np.sqrt(var + 1e-5))
    assert (got["instance1.h1_in"], got["batch.bn1_mean"], got["batch.bn1_var"]) == (z[0], mean, var) or \
        "batch.bn1_mean" not in got
    assert got["instance1.bn1_hat"] == hat
