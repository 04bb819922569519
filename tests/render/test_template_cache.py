"""Compiled templates are cached on disk between runs (as .pyc files are), never served stale."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_a_changed_template_is_compiled_again(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    outputs = []
    for word in ("FIRST", "SECOND", "SECOND"):
        (templates / "base.md.j2").write_text(word + " {{ spec.name }}\n{% block body %}{% endblock %}")
        run = subprocess.run([sys.executable, "-m", "derive", "render", "two-two-two", "--templates", str(templates)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        outputs.append(run.stdout.splitlines()[0])
    assert outputs == ["FIRST two-two-two", "SECOND two-two-two", "SECOND two-two-two"]
