"""Hostile and malformed documents: one line and exit status 2, or a report; never a hang or a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from derive.grade.audit.documents import MAX_BYTES


def run(tmp_path, name: str, content: bytes, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_bytes(content)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "derive", "audit", "two-two-two", str(path), *extra],
                          capture_output=True, text=True, timeout=120)
    proc.seconds = time.monotonic() - start
    return proc


def one_line_error(proc, name: str, words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_too_large(tmp_path):
    proc = run(tmp_path, "huge.md", b"1" * (MAX_BYTES + 1))
    one_line_error(proc, "huge.md", "bytes")


def test_ten_megabytes_of_digits(tmp_path):
    proc = run(tmp_path, "digits.txt", b"0." + b"7" * 10_000_000)
    one_line_error(proc, "digits.txt", "bytes")


def test_binary(tmp_path):
    proc = run(tmp_path, "picture.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    one_line_error(proc, "picture.md", "binary")


def test_invalid_utf8(tmp_path):
    proc = run(tmp_path, "latin1.md", "h1_out = 0.9999 caf\xe9".encode("latin-1"))
    one_line_error(proc, "latin1.md", "UTF-8")


def test_notebook_that_is_not_json(tmp_path):
    proc = run(tmp_path, "broken.ipynb", b'{"cells": [')
    one_line_error(proc, "broken.ipynb", "not a notebook")


def test_notebook_nested_too_deeply(tmp_path):
    proc = run(tmp_path, "deep.ipynb", b'{"cells": []' + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    one_line_error(proc, "deep.ipynb", "nested")


def test_notebook_with_wrong_shapes(tmp_path):
    proc = run(tmp_path, "shapes.ipynb", json.dumps({"cells": [{"cell_type": "code", "source": 7}]}).encode())
    one_line_error(proc, "shapes.ipynb", "source")


def test_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "derive", "audit", "two-two-two", str(tmp_path / "nope.md")],
                          capture_output=True, text=True, timeout=60)
    one_line_error(proc, "nope.md", "no such file")


HOSTILE = [
    ("nested.tex", b"\\[ h_{1}^{\\mathrm{out}} = " + b"{" * 3000 + b"1" + b"}" * 3000 + b" \\]"),
    ("braces.md", b"$$" + b"\\frac{" * 2000 + b"$$\n"),
    ("dollars.md", b"$" * 200_000),
    ("long.md", b"$$ y_{1}^{\\mathrm{out}} = " + b"1 + " * 100_000 + b"1 $$\n"),
    ("digits-lines.md", (b"0." + b"3" * 999 + b"\n") * 1500),
    ("html.html", b"<html><body>" + b"<div>" * 20_000 + b"$h_1 = 0.5$" + b"</div>" * 20_000 + b"</body></html>"),
    ("many.md", b"$h_{1}^{\\mathrm{out}} = 0.5$ " * 40_000),
    ("paragraph.md", b"print(h1_out, h2_out)\n>>> 0.9 0.1\n" * 30_000),  # one paragraph of 60 000 lines
    ("chains.md", b"$$ y_{1}^{\\mathrm{out}} = \\sigma(1.004) \\approx 0.7319 $$\n\n" * 10_000),
]


@pytest.mark.parametrize("name, content", HOSTILE, ids=[name for name, _ in HOSTILE])
def test_hostile_content_gets_a_report_in_time(tmp_path, name, content):
    proc = run(tmp_path, name, content, "--format", "json")
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-500:]
    assert proc.seconds < 60
    if proc.returncode in (0, 1):
        report = json.loads(proc.stdout)  # json.loads rejects nothing, but the tool writes allow_nan=False
        assert "NaN" not in proc.stdout and "Infinity" not in proc.stdout
        assert isinstance(report["findings"], list)
    else:
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_long_list_that_does_not_close_is_read_in_linear_time(tmp_path):
    """A notebook's list of 1001 losses ending in 2.251e-15 once took minutes (regex backtracking)."""
    numbers = ", ".join(f"{0.4 / (k + 1):.16f}" for k in range(2000)) + ", 2.251e-15"
    text = f"# Losses\n\n```python\nhistory = [{numbers}]\nx = (1.5, {numbers})\n```\n"
    start = time.monotonic()
    from derive.grade.audit.documents import parse_document
    from derive.grade.audit.report import audit
    from derive.pipeline import derive
    from derive.spec.parse import load_spec

    audit(derive(load_spec("two-two-two")), parse_document(text.encode(), "losses.md"))
    assert time.monotonic() - start < 10
