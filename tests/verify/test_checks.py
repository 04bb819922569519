"""The independent checks pass on honest derivations and fail on sabotaged ones."""

from __future__ import annotations

import dataclasses

import pytest

from derive.verify.checks import check_finite_differences, check_numpy, check_sympy_diff, check_update
from derive.core.derivation import Derivation
from derive.pipeline import check, derive
from derive.errors import CheckFailed
from derive.core.numbers import Numbers
from derive.spec.parse import load_spec


def sabotaged(key: str, factor: float = 1.5) -> Derivation:
    """two-two-two with one gradient of instance 1 scaled: a bug the checks must catch."""
    d = derive(load_spec("two-two-two"), verify=False)
    first = d.instances[0]
    bad = Numbers(value=first.value, local=first.local, grad={**first.grad, key: first.grad[key] * factor})
    return dataclasses.replace(d, instances=(bad, *d.instances[1:]))


def test_all_checks_pass_on_the_presets(two_two_two, slp_identity):
    for d in (two_two_two, slp_identity):
        assert all(c.passed in (True, None) for c in d.checks.values())
    assert two_two_two.checks["sympy_diff"].passed is True
    assert slp_identity.checks["numpy"].max_abs_error < 1e-12


@pytest.mark.parametrize("check", [check_numpy, check_finite_differences, check_sympy_diff, check_update])
def test_each_check_catches_a_wrong_gradient(check):
    assert check(sabotaged("v21")).passed is False


def test_numpy_check_catches_a_wrong_hidden_gradient():
    assert check_numpy(sabotaged("h1_out")).passed is False


def test_verify_raises_with_exit_status_3():
    with pytest.raises(CheckFailed, match="check 'numpy' failed") as exc:
        check(sabotaged("w12", 1.01))
    assert exc.value.exit_status == 3


def test_sympy_diff_switches_itself_off_for_large_or_deep_graphs(slp_identity):
    from conftest import spec_from

    assert slp_identity.checks["sympy_diff"].passed is None  # 52 edges: too many
    assert derive(load_spec("two-two-two")).checks["sympy_diff"].passed is True  # 30 edges
    layers = "".join(f'[[network.layers]]\nsize = 1\nactivation = "sigmoid"\nweights = [[0.5]]\n' for _ in range(4))
    deep = derive(spec_from(f'[network]\ninputs = 1\nloss = "sse"\n{layers}[[data]]\nx = [1]\nt = [0]\n'))
    assert deep.checks["sympy_diff"].passed is None and "4 layers" in deep.checks["sympy_diff"].note
