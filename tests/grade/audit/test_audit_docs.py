"""docs/audit.md shows a report the tool really prints today."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from derive.cli import main


def test_the_worked_example_in_the_docs_is_current(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit):
        main(["audit", "tests/fixtures/audit/mazur.toml", "tests/fixtures/audit/mazur_homework.md"])
    printed = capsys.readouterr().out
    text = (ROOT / "docs" / "audit.md").read_text()
    shown = re.search(r"<!-- audit-example:start -->\n```\n(.*?)```\n<!-- audit-example:end -->", text, re.S).group(1)
    assert shown == printed, "docs/audit.md: regenerate the worked example (derive audit … > the block)"


def test_the_docs_stand_alone():
    text = (ROOT / "docs" / "audit.md").read_text()
    assert "CONTRACT" not in text and "../shared" not in text
