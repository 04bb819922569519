"""Chains of equations: found in every format, split like a reader reads them, checked at the printed precision."""

from __future__ import annotations

import pytest

from derive.verify.chains import FalseEquation, check_chain, check_page, find_chains, split_chain, verify_page


def texts(chains):
    return [[m.text for m in c.members] for c in chains]


def test_aligned_rows_continue_the_chain_above():
    tex = r"""\begin{aligned}
a &= b + c \\
&= 1 + 2 \\[4pt]
&\quad + 3 \approx 6 \\
x &= 2
\end{aligned}"""
    chains = split_chain(tex, line=10)
    assert texts(chains) == [["a", "b + c", "1 + 2 + 3", "6"], ["x", "2"]]
    assert chains[0].relations == ["=", "=", "≈"]
    assert [m.line for m in chains[0].members] == [11, 11, 12, 13]
    assert chains[1].line == 14


def test_separators_end_a_chain():
    chains = split_chain(r"f(z) = 1, \qquad g(z) = 2 \quad \text{so} \quad 1 = 1.")
    assert texts(chains) == [["f(z)", "1"], ["g(z)", "2"], ["1", "1"]]


def test_matrices_and_brackets_are_one_piece():
    chains = split_chain(r"W = \begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix} && (2 \times 2)")
    assert len(chains) == 2 and len(chains[0].members) == 2
    chains = split_chain(r"s = \left[z > 0\right] = 1")
    assert texts(chains) == [["s", r"\left[z > 0\right]", "1"]]


def test_update_arrows_are_not_compared():
    (chain,) = split_chain(r"w_{11} \leftarrow w_{11} - \eta \, g = 0.5 - 0.5 \cdot 0.1 \approx 0.45")
    assert chain.relations == ["←", "=", "≈"]
    result = check_chain(chain)
    assert result.ok and result.comparisons == 1


@pytest.mark.parametrize("tex, ok", [
    (r"0.1 \cdot 1 + 0.4 \cdot 0.5 = 0.3", True),
    (r"\sigma\left(0.5\right) \approx 0.6225", True),
    (r"\sigma\left(0.5\right) \approx 0.6235", True),   # 0.5 claims one decimal: σ(0.45 … 0.55)
    (r"\sigma\left(0.5\right) \approx 0.66", False),
    (r"- \frac{1}{0.25} = -4", True),
    (r"- 1 \cdot 0.25 \cdot -1 \approx -4", False),        # the old printing of -t/y
    (r"\frac{2 \cdot 0.5126}{2} \approx 0.5126", True),
    (r"2 \cdot 0.5126 \cdot 2 \cdot -1 \approx 0.5126", False),  # the old printing of 2e/2
    (r"\left(-0.5\right)^{2} = 0.25", True),
    (r"-0.5^{2} = 0.25", False),
    (r"a = 1 + 1 = 2 = 3", False),
    (r"x = 1.0000001 \approx 1", True),
    # exact fractions that cancel: 6.9e-18 in floats, 0 on the page (an exact softmax page once exited 3)
    (r"\left(- \frac{9}{10}\right) \cdot \frac{1}{10} + \frac{1}{10} \cdot \frac{9}{10} = 0", True),
    (r"\left(- \frac{9}{10}\right) \cdot \frac{1}{10} + \frac{1}{10} \cdot \frac{9}{10} = 10^{-12}", False),
    (r"0.1 + 0.2 - 0.3 = 0", True),
])
def test_chains_are_judged(tex, ok):
    (chain,) = split_chain(tex)
    assert check_chain(chain).ok is ok


def test_digits_tightens_the_claim_of_short_numbers():
    (chain,) = split_chain(r"\sigma\left(0.5\right) \approx 0.6235")
    assert check_chain(chain).ok
    assert not check_chain(chain, digits=4).ok       # derive prints 0.5 for 0.5000: σ(0.5) = 0.62246
    (chain,) = split_chain(r"1235 \cdot 2 \approx 2469")
    assert check_chain(chain, digits=4).ok           # 1235 may be 1234.6


def test_members_with_names_are_checked_when_values_are_given():
    (chain,) = split_chain(r"h_{1}^{\mathrm{in}} = w_{11} x_{1} = 0.5 \cdot 2 = 1")
    assert check_chain(chain).checked == 2
    good = check_chain(chain, {"h_{1}^{in}": 1.0, "w_{11}": 0.5, "x_{1}": 2.0})
    assert good.ok and good.checked == 4
    bad = check_chain(chain, {"h_{1}^{in}": 1.0, "w_{11}": 0.5, "x_{1}": 3.0})
    assert not bad.ok


MD = r"""# A page

Inline $a = 2 \cdot 3 = 6$ and a price of $5 and $10.

$$
\begin{aligned}
y &= 1 + 1 \\
&= 3
\end{aligned}
$$

```
$$ 1 = 2 $$ in code is not math
```
`$1 = 2$` neither.
"""


def test_find_chains_in_markdown():
    found = list(find_chains(MD, "md"))
    assert [(line, c.text) for line, c in found] == [(3, r"a = 2 \cdot 3 = 6"), (7, "y = 1 + 1 = 3")]
    report = check_page(MD, "md")
    assert len(report.failures) == 1 and report.failures[0].line == 8
    with pytest.raises(FalseEquation, match="line 8"):
        verify_page(MD, "md")


def test_find_chains_in_latex_and_html():
    tex = "% $1 = 2$ a comment\n\\[ 1 + 1 = 2 \\]\n\\begin{align}\nx &= 2 \\cdot 2 \\\\\n&= 5\n\\end{align}\n\\fitdisplay{3 = 3}\n"
    assert [(line, c.text) for line, c in find_chains(tex, "tex")] == [
        (2, "1 + 1 = 2"), (4, r"x = 2 \cdot 2 = 5"), (7, "3 = 3")]
    page = '<p>$1 &lt; 2$</p>\n<div class="display">\\[a = 0.5 &gt; 0\\]</div><script>var x = "$1 = 2$";</script>'
    assert [(line, c.relations) for line, c in find_chains(page, "html")] == [(1, ["<"]), (2, ["=", ">"])]
    page = '<p><span class="math">a = 1 &lt; 2</span></p>\n<div class="math display">b &amp;= 2 \\\\ &amp;= 3</div>'
    assert [(line, c.text) for line, c in find_chains(page, "html")] == [(1, "a = 1 < 2"), (2, "b = 2 = 3")]


# ---------------------------------------------------------------- derive render checks its own pages

import os
import random
import re

from conftest import ALL, EXACT, OUTPUTS, random_spec, spec_from
from derive.cli import main
from derive.pipeline import derive
from derive.render.page import render
from derive.spec.parse import load_spec

NOTATIONS = ("inout", "netout", "layer")
VIEWS = ("scalar", "matrix", "tape")
COMBINATIONS = [(loss, out, hidden, notation, view)
                for loss, outs in OUTPUTS.items() for out in outs for hidden in ALL if hidden != "softmax"
                for notation in NOTATIONS for view in VIEWS]


def _sample():
    """Every combination with DERIVE_SWEEP=all; else a fixed sample that still meets every loss, output
    activation, hidden activation, notation and view at least once."""
    if os.environ.get("DERIVE_SWEEP") == "all":
        return COMBINATIONS
    rng = random.Random(10)
    picked, seen = [], set()
    for combo in rng.sample(COMBINATIONS, len(COMBINATIONS)):
        features = {("loss", combo[0]), ("out", combo[1]), ("hidden", combo[2]), ("notation", combo[3]),
                    ("view", combo[4]), ("pair", combo[0], combo[1])}
        if not features <= seen:
            picked.append(combo)
            seen |= features
    return sorted(picked)


@pytest.mark.slow
@pytest.mark.parametrize("loss, out, hidden, notation, view", _sample())
def test_every_combination_renders_only_true_chains(loss, out, hidden, notation, view):
    seed = COMBINATIONS.index((loss, out, hidden, notation, view))
    sizes = (2, 3, 2) if seed % 2 else (3, 2, 3)
    d = derive(random_spec(loss, out, hidden, seed=seed, sizes=sizes, n_data=2))
    digits = (4, 3, 6)[seed % 3]
    md = render(d, notation=notation, views=("scalar", view) if view != "scalar" else ("scalar",), digits=digits)
    report = check_page(md, "md", digits=digits)
    assert report.ok, [str(f) for f in report.failures]
    # not vacuous: every forward and backward line of two instances has numbers on both sides
    assert report.checked >= 60 and report.comparisons >= 30, (report.checked, report.comparisons)
    html = render(d, fmt="html", notation=notation, digits=digits, fragment=True)
    assert check_page(html, "html", digits=digits).ok
    tex_ = render(d, fmt="tex", notation=notation, digits=digits, fragment=True)
    assert check_page(tex_, "tex", digits=digits).ok


@pytest.mark.parametrize("notation", NOTATIONS)
def test_exact_arithmetic_pages_are_true(notation):
    d = derive(spec_from(EXACT))
    md = render(d, notation=notation, views=VIEWS)
    report = check_page(md, "md", digits=4)
    assert report.ok and report.checked >= 30


def test_softmax_cross_entropy_page_has_its_quotients_checked():
    """The page issue 10 found false: every softmax line and every -t/y is now read and true."""
    d = derive(random_spec("cross_entropy", "softmax", "tanh", sizes=(3, 3, 3), n_data=1))
    md = render(d)
    substituted = re.compile(r"\\frac\{e\^\{-?\d|- \\frac\{\d")  # softmax and -t/y with numbers in them
    quotients = [c for _, c in find_chains(md, "md") if any(substituted.search(m.text) for m in c.members)]
    assert len(quotients) >= 6
    for chain in quotients:
        result = check_chain(chain, digits=4)
        assert result.ok and result.comparisons >= 1, chain.text


FALSE_BASE = r"""{% block front %}{% endblock %}
# {{ spec.title }}

$$
\begin{aligned}
y &= 0.5 \cdot 2 \\
&= 3
\end{aligned}
$$
{% block body %}{% endblock %}
"""


def test_render_refuses_a_false_page_from_a_user_template(tmp_path, capsys):
    (tmp_path / "base.md.j2").write_text(FALSE_BASE)
    for fmt in ("md", "html", "tex", "pdf", "ipynb"):
        with pytest.raises(SystemExit) as exc:
            main(["render", "two-two-two", "--templates", str(tmp_path), "-f", fmt, "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert exc.value.code == 3, err
        assert "line 6" in err and "0.5 \\cdot 2" in err and "is false" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "out" / f"two-two-two.{fmt}").exists()


def test_render_refuses_a_corrupted_number(monkeypatch):
    from derive.render import page as page_module
    from derive.verify.chains import FalseEquation

    real = page_module.Page.value

    def off_by_a_little(self, num, key):
        text = real(self, num, key)
        return text.replace("0.7319", "0.7325") if key == "y1_out" else text

    monkeypatch.setattr(page_module.Page, "value", off_by_a_little)
    d = derive(load_spec("two-two-two"))
    with pytest.raises(FalseEquation, match=r"line \d+: .*0\.7325"):
        render(d)
