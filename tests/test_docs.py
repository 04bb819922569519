"""The docs stand alone: no path outside the repository, every key of the spec and of the values JSON
described, and their examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import derive
from conftest import ROOT
from derive.cli import cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = re.compile(r"\.\./shared|CONTRACT|shared/|/work/|/tmp/|/home/|~/")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_path_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    for link in re.findall(r"\]\(([^)#]+)", text):
        if not link.startswith(("http://", "https://", "data:")):
            target = (path.parent / link).resolve()
            assert target.exists() and target.is_relative_to(ROOT), \
                f"{path.name} links to {link}, which is not in the repository"
    assert not OUTSIDE.search(text), OUTSIDE.search(text).group(0)


def every_help() -> str:
    texts = [subprocess.run([sys.executable, "-m", "derive", "--help"], capture_output=True, text=True,
                            cwd=ROOT).stdout]
    texts += [subprocess.run([sys.executable, "-m", "derive", name, "--help"], capture_output=True, text=True,
                             cwd=ROOT).stdout for name in cli.commands]
    return "\n".join(texts)


def test_help_names_no_file_users_do_not_have():
    text = every_help()
    assert "Usage: derive values" in text and "docs/json.md" in text
    assert not OUTSIDE.search(text), OUTSIDE.search(text).group(0)


def test_derive_alone_prints_help_and_succeeds():
    run = subprocess.run([sys.executable, "-m", "derive"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.startswith("Usage: derive") and "render" in run.stdout


def json_paths(value, prefix="") -> set[str]:
    """Every key path of a JSON value, with layer names as LAYER, check names as NAME, lists as [n]."""
    out = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if prefix.endswith(("layers", "grad", "checks", "state")) and key not in ("inputs",) and isinstance(item, dict):
                key = "NAME" if prefix.endswith("checks") else "LAYER"
            if prefix.endswith("nodes"):
                key = "NODE"
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            out |= json_paths(item, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            out |= json_paths(item, f"{prefix}[n]")
    return out


def test_every_key_of_the_values_json_is_described():
    """Every key name of the JSON of two presets appears in the keys table of docs/json.md."""
    text = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    table = text[text.index("## Keys"):]
    words = {w for code in re.findall(r"`([^`]+)`", table) for w in re.findall(r"[A-Za-z_]+", code)}
    paths = json_paths(derive.values("two-two-two")) | json_paths(derive.values("slp-identity"))
    keys = {p.split(".")[-1].replace("[n]", "") for p in paths} - {"NODE", "NAME", "LAYER"}
    assert len(keys) > 20
    assert sorted(keys - words) == []


def test_every_spec_key_is_described():
    """Each key the reader accepts (its known_keys lists) appears in docs/spec.md as `key`."""
    source = (ROOT / "derive" / "spec" / "parse.py").read_text(encoding="utf-8")
    keys = set()
    for group in re.findall(r"known_keys\([^(]*\(([^)]*)\)", source):
        keys |= set(re.findall(r'"(\w+)"', group))
    keys |= set(re.findall(r'"(\w+)"', re.search(r"allowed = \{(.*?)\}", source, flags=re.S).group(1)))
    from derive.core.layers import LAYERS

    for kind in LAYERS.values():  # each layer type reads its own keys
        keys |= set(kind.keys) | {kind.name}
    assert {"reduction", "train_bias", "weight_symbol", "skip", "decimals", "partial", "std"} <= keys
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    missing = sorted(k for k in keys if not re.search(rf"`{k}`|`\[+(network\.)?{k}\]+`", text))
    assert missing == []
    assert "## `[network]`" in text and "### `reduction`" in text


def test_the_spec_example_is_the_preset(tmp_path):
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\n\n```toml\n(.*?)```", text, flags=re.S).group(1)
    assert derive.values(example)["loss"] == derive.values("two-two-two")["loss"]


def test_the_answers_example_in_check_md_runs(tmp_path):
    text = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
    example = re.search(r"A small one.*?```toml\n(.*?)```", text, flags=re.S).group(1)
    report = derive.check("two-two-two", example)
    assert [v.status for v in report.verdicts].count("wrong") == 1
    [wrong] = [v for v in report.verdicts if v.status == "wrong"]
    assert wrong.name == "instance1.dL/dv11" and "sign" in wrong.diagnosis
