"""PrairieLearn's server file of a derive worksheet: variants drawn and answers graded by derive."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(data):
    from derive.worksheets.lms.prairielearn import generate as derive_generate

    derive_generate(HERE, data)


def grade(data):
    from derive.worksheets.lms.prairielearn import grade as derive_grade

    derive_grade(HERE, data)
