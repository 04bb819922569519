"""Spec reading: valid specs, seeded draws, and a corpus of malformed ones (tests/malformed/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import spec_from
from derive.cli import main
from derive.errors import SpecError
from derive.spec.parse import load_spec, preset_names

MALFORMED = sorted((Path(__file__).parent / "malformed").glob("*.toml"))


def run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_spec_gets_one_line_naming_the_field(path, capsys):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    for command in ("render", "values"):
        status, out, err = run([command, str(path)], capsys)
        assert status == 2
        assert out == ""
        assert err.count("\n") == 1 and err.startswith(f"derive: error: {path}: "), err
        assert expected in err, err


def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 25


def test_missing_file_and_unknown_preset(capsys):
    status, out, err = run(["values", "two-two-tow"], capsys)
    assert status == 2 and out == ""
    assert err == "derive: error: two-two-tow: no such file or preset; did you mean the preset 'two-two-two'?\n"


def test_not_utf8(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe name = 1")
    status, _, err = run(["values", str(bad)], capsys)
    assert status == 2 and err == f"derive: error: {bad}: not a UTF-8 text file\n"


def test_presets_are_listed_and_load():
    assert {"two-two-two", "slp-identity"} <= set(preset_names())
    for name in preset_names():
        assert load_spec(name).name == name


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "tiny-net.toml"
    path.write_text('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
                    'weights = [[2]]\n[[data]]\nx = [1]\nt = [0]\n')
    spec = load_spec(path)
    assert spec.name == "tiny-net" and spec.layers[0].name == "y"


def test_random_draws_follow_numpy_legacy_seeding():
    spec = spec_from("""
        [network]
        inputs = 3
        loss = "sse"
        [[network.layers]]
        size = 2
        activation = "identity"
        weights = { random = "normal", seed = 5, mean = 1, std = 2 }
        bias = { random = "uniform", low = -1, high = 1, seed = 3, skip = 4, decimals = 1 }
        [[data]]
        x = { random = "normal", seed = 5, skip = 6 }
        t = [0, 0]
    """)
    np.random.seed(5)
    expected = np.random.normal(1, 2, size=(3, 2))
    assert np.array(spec.layers[0].weights).tolist() == expected.tolist()
    rng = np.random.RandomState(3)
    assert list(spec.layers[0].bias) == np.round(rng.uniform(-1, 1, size=6)[4:], 1).tolist()
    np.random.seed(5)
    assert list(spec.data[0].x) == np.random.normal(size=9)[6:].tolist()


def test_class_index_target_becomes_one_hot():
    spec = spec_from("""
        [network]
        inputs = 1
        loss = "cross_entropy"
        [[network.layers]]
        size = 3
        activation = "sigmoid"
        weights = [[1, 2, 3]]
        [[data]]
        x = [1]
        t = 2
    """)
    assert spec.data[0].t == (0.0, 1.0, 0.0)


def test_spec_error_carries_source_and_field():
    with pytest.raises(SpecError) as exc:
        spec_from("[network]\ninputs = true\n")
    assert (exc.value.source, exc.value.field) == ("test.toml", "network.inputs")
    assert str(exc.value) == "test.toml: network.inputs: expected a whole number, got the boolean true"


def test_deep_nesting_is_refused_whatever_the_recursion_limit():
    """Refused by counting, not by tomllib running out of stack: another library may raise the limit."""
    import sys

    from derive.spec.parse import read_toml

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        with pytest.raises(SpecError, match="nested too deep"):
            read_toml("x = " + "[" * 1000 + "]" * 1000 + "\n", "deep.toml")
        assert read_toml('x = [[1, [2]], {a = "[[[["}]  # [[[[[\n', "ok.toml")["x"][0] == [1, [2]]
    finally:
        sys.setrecursionlimit(old)
