"""`derive check` on a batch normalization: the names of its quantities, the [batch] table, formulas judged through
the batch (every random point moves one instance within its batch)."""

from __future__ import annotations

import numpy as np
import pytest

import derive as api
from derive.grade.answers import answers_file, catalogue
from derive.pipeline import derive
from derive.spec.parse import load_spec


@pytest.fixture(scope="module")
def d():
    return derive(load_spec("batch-norm"))


def test_names_of_the_batch_normalization(d):
    names = catalogue(d)
    for key in ("instance1.bn1_hat", "instance3.dL/dbn2_hat", "instance2.dL/dgamma_bn1", "instance2.dL/dbeta_bn2",
                "batch.bn1_mean", "batch.bn2_var", "batch.dL/dbn1_mean", "batch.dL/dbn2_var", "total.dL/dgamma_bn1"):
        assert key in names, key
    # the statistics against NumPy, straight from the data
    X = np.array([i.x for i in d.spec.data])
    Z = X @ np.array(d.spec.layers[0].weights)
    assert names["batch.bn1_mean"].value == pytest.approx(Z[:, 0].mean(), rel=1e-12)
    assert names["batch.bn2_var"].value == pytest.approx(Z[:, 1].var(), rel=1e-12)  # biased, as NumPy's default
    # instance shares of γ's gradient add up to the total (mean reduction: over N)
    shares = [names[f"instance{n}.dL/dgamma_bn1"].value for n in (1, 2, 3)]
    assert sum(shares) / 3 == pytest.approx(names["total.dL/dgamma_bn1"].value, rel=1e-12)


def test_the_key_passes_and_a_wrong_statistic_is_caught(d, tmp_path):
    key = answers_file(d, filled=True)
    assert "[batch]" in key
    (tmp_path / "key.toml").write_text(key, encoding="utf-8")
    report = api.check(d, str(tmp_path / "key.toml"))
    assert report.ok and len(report.verdicts) == len(catalogue(d))
    report = api.check(d, {"batch": {"bn1_mean": 1.2, "dL/dbn1_var": names_value(d, "batch.dL/dbn1_var")}})
    assert [v.status for v in report.verdicts] == ["wrong", "correct"]


def names_value(d, name):
    return catalogue(d)[name].value


def test_the_three_terms_as_a_formula(d):
    right = "dL_dbn1_hat/sqrt(bn1_var + eps_bn) + dL_dbn1_var*2*(h1_out - bn1_mean)/3 + dL_dbn1_mean/3"
    direct_only = "dL_dbn1_hat/sqrt(bn1_var + eps_bn)"  # the mistake of treating μ and σ² as constants
    report = api.check(d, {"instance2": {"dL/dh1_out": right}, "instance3": {"dL/dh1_out": direct_only}})
    assert [v.status for v in report.verdicts] == ["correct", "wrong"]
