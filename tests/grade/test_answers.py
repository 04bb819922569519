"""The answers catalogue and files: every quantity named once with its value, blank and filled files that read
back, and untrusted files refused with one line naming the field."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from derive.errors import SpecError
from derive.grade.answers import answers_file, backward_order, catalogue, parse_answers, read_answers
from derive.verify import reference


def test_the_catalogue_holds_every_value_and_gradient_of_every_instance(two_two_two):
    d = two_two_two
    known = catalogue(d)
    graph = d.graph
    N = len(d.instances)
    per_instance = len(graph.computed) + len([k for k in d.steps.steps if k != graph.loss_key])
    totals = 1 + len(graph.parameters)  # total.L and the total gradient
    update = len(graph.parameters) + 1 + N * (graph.spec.outputs + 1)
    trained = N * graph.spec.outputs
    assert len(known) == N * per_instance + totals + update + trained
    assert len({q.name for q in known.values()}) == len(known)


def test_catalogue_values_are_the_numpy_reference(two_two_two):
    d = two_two_two
    spec = d.spec
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    known = catalogue(d)
    for n in range(len(X)):
        for l, units in enumerate(d.graph.layer_units):
            for j, (z, a) in enumerate(units):
                assert known[f"instance{n + 1}.{a}"].value == pytest.approx(p.A[l][n, j], rel=1e-12)
                assert known[f"instance{n + 1}.dL/d{z}"].value == pytest.approx(p.dZ[l][n, j], rel=1e-12)
        assert known[f"instance{n + 1}.L"].value == pytest.approx(p.loss[n], rel=1e-12)
    gW, _ = reference.total_gradient(spec, p)
    assert known["total.dL/dw11"].value == pytest.approx(gW[0][0, 0], rel=1e-12)


def test_backward_order_starts_at_the_output_and_ends_at_the_inputs(two_two_two):
    order = backward_order(two_two_two)
    graph = two_two_two.graph
    assert order[0] == "e1" and order[-1] == graph.input_keys[-1]
    assert order.index("y1_out") < order.index("y1_in") < order.index("h1_out") < order.index("h1_in")
    assert set(order) == set(two_two_two.steps.steps) - {graph.loss_key}


def test_a_filled_file_reads_back_to_the_key(two_two_two):
    d = two_two_two
    text = answers_file(d, filled=True)
    answers = parse_answers(tomllib.loads(text), d)
    known = catalogue(d)
    assert set(answers.given) == set(known)
    for name, values in answers.given.items():
        assert values == [known[name].value]


def test_a_blank_file_gives_nothing(two_two_two):
    text = answers_file(two_two_two, filled=False, only={"instance1.h1_out", "total.L"})
    assert text.count('= ""') == 2
    assert parse_answers(tomllib.loads(text), two_two_two).given == {}


def test_digits_and_settings(two_two_two):
    text = answers_file(two_two_two, filled=True, digits=3, only={"instance1.h1_out"},
                        settings={"tolerance": {"atol": 0.001}})
    doc = tomllib.loads(text)
    true = catalogue(two_two_two)["instance1.h1_out"].value
    assert doc["instance1"]["h1_out"] == float(f"{true:.3g}") and doc["tolerance"] == {"atol": 0.001}


@pytest.mark.parametrize("doc, field", [
    ({"instance1": {"h1_outt": 1}}, "instance1.h1_outt"),
    ({"instance9": {"h1_out": 1}}, "instance9"),
    ({"instance1": {"h1_out": True}}, "instance1.h1_out"),
    ({"instance1": {"h1_out": {"a": 1}}}, "instance1.h1_out"),
    ({"tolerance": {"atol": -1}}, "tolerance.atol"),
    ({"tolerance": {"fuzz": 1}}, "tolerance.fuzz"),
    ({"rounding": {"decimals": 99}}, "rounding.decimals"),
])
def test_bad_answers_name_the_field(two_two_two, doc, field):
    with pytest.raises(SpecError) as exc:
        parse_answers(doc, two_two_two, "a.toml")
    message = str(exc.value)
    assert field in message and "\n" not in message


def test_unreadable_files_are_one_line(tmp_path, two_two_two):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(SpecError, match="UTF-8"):
        read_answers(bad, two_two_two)
    bad.write_text("[instance1\nh1_out = ")
    with pytest.raises(SpecError, match="not valid TOML"):
        read_answers(bad, two_two_two)
    with pytest.raises(SpecError, match="no such answers file"):
        read_answers(tmp_path / "missing.toml", two_two_two)
    assert np.isfinite(catalogue(two_two_two)["total.L"].value)
