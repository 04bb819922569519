"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from derive.derivation import derive
from derive.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip locally when a tool is missing; in CI (CI=true), where .ci/run installs it, fail instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def resolve(tree, path: str):
    """Follow a dotted path (list indices as numbers) into nested dicts and lists."""
    for part in path.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


@pytest.fixture(scope="session")
def two_two_two():
    return derive(load_spec("two-two-two"))


@pytest.fixture(scope="session")
def slp_identity():
    return derive(load_spec("slp-identity"))


def spec_from(text: str, name: str = "test"):
    return parse_spec(text, source=f"{name}.toml", default_name=name)
