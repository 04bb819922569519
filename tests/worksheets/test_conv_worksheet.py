"""A convolution worksheet (the classic 4×4 input, 2×2 kernel exam question): variants, blanks and keys."""

from __future__ import annotations

from derive.grade.answers import read_answers
from derive.grade.judge import check_answers
from derive.pipeline import derive
from derive.spec.parse import load_spec, parse_spec
from derive.worksheets.write import worksheet_files


def test_conv_worksheet_variants_have_kernel_blanks_and_keys_that_check(tmp_path):
    files = worksheet_files(load_spec("conv-worksheet"), variants=3, seed=5, formats=("md",))
    for k in ("01", "02", "03"):
        sheet = files[f"variant-{k}.sheet.md"]
        assert "`instance1.dL/dw1_1_1_1`" in sheet and "`instance1.c1_3_3_out`" in sheet
        assert "`update.w1_1_2_2`" in sheet
        assert r"x_{1} = \begin{bmatrix}" in sheet  # the image as a matrix, not 16 columns
        spec = parse_spec(files[f"variant-{k}.toml"], source=f"variant-{k}.toml")
        assert spec.input_shape == (1, 4, 4) and spec.layers[0].kernel == (2, 2)
        d = derive(spec)
        key = tmp_path / f"variant-{k}.key.toml"
        key.write_text(files[f"variant-{k}.key.toml"])
        result = check_answers(d, read_answers(key, d))
        assert all(v.status == "correct" for v in result.verdicts), [v for v in result.verdicts if v.status != "correct"]
    # the variants differ in their kernels (drawn in the kernel's own shape)
    kernels = {parse_spec(files[f"variant-{k}.toml"], source="v.toml").layers[0].weights for k in ("01", "02", "03")}
    assert len(kernels) == 3 and all(len(w) == 1 and len(w[0]) == 1 and len(w[0][0]) == 2 for w in kernels)
