"""The command line: the one place that turns errors into a message and an exit status."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path

import click

from derive.errors import DeriveError
from derive.i18n import languages

# Kept here, not imported from derive.render.printer, so that `derive values` never loads the printer.
NOTATIONS = ("inout", "netout", "layer")
DEFAULT_DIGITS = 4

SPEC_HELP = "a spec file (TOML) or the name of a built-in preset (see `derive presets`)"


def _language_option(command):
    """``--lang LANG``: every word the command writes (pages, sheets, reports) in that language."""

    @functools.wraps(command)
    def run(*args, lang: str, **kwargs):
        from derive.i18n import language

        with language(lang):  # an unknown language: one line naming --lang, exit 2
            return command(*args, **kwargs)

    return click.option("--lang", metavar="LANG", default="en", show_default=True,
                        help=f"The language of every word written: {', '.join(languages())} "
                             "(docs/languages.md tells how to add one).")(run)


def _load(spec_or_preset: str):
    from derive.pipeline import derive
    from derive.spec.parse import load_spec

    return derive(load_spec(spec_or_preset))


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True,
             no_args_is_help=False)
@click.version_option(package_name="derive")
@click.pass_context
def cli(ctx: click.Context):
    """Turn a small neural network into a step-by-step, fully checked backpropagation derivation.

    \b
    Examples:
      derive presets                          list the built-in networks
      derive render two-two-two -o out/       write out/two-two-two.md and its pictures
      derive render my-net.toml -f pdf        a LaTeX document, compiled
      derive values my-net.toml               every number, as JSON
      derive check two-two-two --blank        an answers file to fill in
      derive check two-two-two answers.toml   which answers are wrong, and why
      derive audit two-two-two post.md        which numbers and equations of a write-up are wrong
      derive worksheet two-two-two --variants 30 --seed 7 -o sheets/

    `derive COMMAND --help` tells more about a command.
    """
    if ctx.invoked_subcommand is None:  # `derive` alone: the help, and success
        click.echo(ctx.get_help())


@cli.command()
@_language_option
@click.argument("spec_or_preset", metavar="SPEC_OR_PRESET")
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "tex", "pdf", "html", "ipynb"]), default="md",
              show_default=True,
              help="md: Markdown with $…$ math (KaTeX, MathJax); tex: a LaTeX document for pdflatex; "
                   "pdf: that document compiled (needs pdflatex); html: one self-contained page whose math KaTeX "
                   "renders, offline; "
                   "ipynb: a Jupyter notebook whose code cells recompute every number with NumPy.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write NAME.FORMAT into (created if needed); default: standard output "
                   "(for pdf: the current directory).")
@click.option("--fragment", is_flag=True, help="Only the body, without title and document, for pasting.")
@click.option("--views", default="scalar", show_default=True,
              help="Comma-separated: scalar (the chain rule node by node), matrix (the same with the instances "
                   "as the rows of matrices), tape (the operations in forward order and their replay backwards).")
@click.option("--katex", metavar="URL",
              help="html: load KaTeX from URL (its dist/ folder, e.g. https://cdn.jsdelivr.net/npm/katex@0.16.22/dist) "
                   "instead of carrying it inside the page; by default the page holds KaTeX and its fonts and "
                   "works offline.")
@click.option("--notation", type=click.Choice(NOTATIONS), default="inout", show_default=True,
              help="inout: h1_in, h1_out, w11; netout: net_h1, out_h1; layer: z^[1]_1, a^[1]_1, W^[1]_11.")
@click.option("--digits", type=click.IntRange(2, 15), default=DEFAULT_DIGITS, show_default=True,
              help="Significant digits of the numbers shown (stored values are never rounded).")
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path),
              help="A directory whose templates override the built-in ones of the same name.")
@click.option("--pictures/--no-pictures", default=None,
              help="Draw the network on each instance and the loss per epoch (SVG beside md, PDF beside tex, "
                   "inside html and pdf). Default: on, except for md and tex on standard output.")
@click.option("--edge-gradients", is_flag=True,
              help="Write the gradient of the loss, dL/dw, under each weight in the network's picture.")
def render(spec_or_preset, fmt, out_dir, notation, digits, templates, fragment, katex, views, pictures, edge_gradients):
    """Write the worked example of SPEC_OR_PRESET: forward pass, loss, every partial, the update."""
    from derive.render.page import render_files

    to_stdout = out_dir is None and fmt != "pdf"
    if pictures and to_stdout and fmt in ("md", "tex"):
        raise click.UsageError(f"--pictures: pictures beside -f {fmt} are files of their own; give -o DIR")
    if pictures is None:
        pictures = not (to_stdout and fmt in ("md", "tex"))
    d = _load(spec_or_preset)
    files = render_files(d, fmt=fmt, notation=notation, digits=digits, templates=templates, fragment=fragment,
                         katex=katex, views=tuple(v.strip() for v in views.split(",") if v.strip()),
                         pictures=pictures, edge_gradients=edge_gradients)
    if to_stdout:
        click.echo(files[f"{d.spec.name}.{fmt}"], nl=False)
        return
    write_files(out_dir or Path("."), files)


def write_files(out_dir: Path, files: dict[str, str | bytes], *, quiet: bool = False) -> None:
    """Write name → content under out_dir, saying so on stderr unless quiet."""
    from derive.files import save

    for path in save(out_dir, files):
        if not quiet:
            click.echo(f"wrote {path}", err=True)


@cli.command()
@click.argument("spec_or_preset", metavar="SPEC_OR_PRESET")
def values(spec_or_preset):
    """Print every number of SPEC_OR_PRESET as JSON: values, gradients, the update, training, checks.

    The keys are described in docs/json.md of the derive repository.
    """
    d = _load(spec_or_preset)
    click.echo(json.dumps(d.to_values(), indent=2, allow_nan=False))


@cli.command()
@_language_option
@click.argument("spec_or_preset", metavar="SPEC_OR_PRESET")
@click.argument("answers", required=False, type=click.Path())
@click.option("--blank", is_flag=True, help="Print an answers file to fill in, every value \"\".")
@click.option("--key", is_flag=True, help="Print the same file filled in correctly.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True,
              help="The report's format.")
@click.option("--rtol", type=click.FloatRange(min=0), callback=lambda c, p, v: _finite(p, v),
              help="Relative tolerance (default 1e-3, or the file's).")
@click.option("--atol", type=click.FloatRange(min=0), callback=lambda c, p, v: _finite(p, v),
              help="Absolute tolerance (default 1e-12, or the file's).")
@click.option("--min-digits", type=click.IntRange(1, 17),
              help="Significant digits an answer needs to count as correctly rounded (default 2, or the file's).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A whole class: the report directory (grades.csv, students/*.md, summary.md, mistakes.svg).")
def check(spec_or_preset, answers, blank, key, fmt, rtol, atol, min_digits, out_dir):
    """Check the hand derivation in ANSWERS against SPEC_OR_PRESET: which answers are wrong, and why.

    Exit status 0 when every answer is right, 1 when any is wrong or cannot be judged.

    \b
    A whole class: derive check VARIANTS_DIR SUBMISSIONS_DIR -o REPORT_DIR
    grades every STUDENT.toml of SUBMISSIONS_DIR against the variant-NN.toml of VARIANTS_DIR that
    its [worksheet] variant names (or against one SPEC_OR_PRESET), in one process.
    """
    if answers is not None and Path(answers).is_dir():
        return _check_class(spec_or_preset, Path(answers), out_dir)
    if out_dir is not None:
        raise click.UsageError("-o is for a whole class: give a SUBMISSIONS_DIR")
    from derive.grade.answers import answers_file, read_answers
    from derive.grade.judge import Tolerance, check_answers
    from derive.render.page import render_report

    if blank and key:
        raise click.UsageError("--blank and --key exclude each other")
    d = _load(spec_or_preset)
    if getattr(d, "kind", None) == "circuit":  # answers by node name: derive.grade.circuit
        from derive.grade.circuit import answers_file, check_circuit as check_answers, \
            read_circuit_answers as read_answers
    if blank or key:
        if answers is not None:
            raise click.UsageError("--blank and --key print a file; give no ANSWERS")
        click.echo(answers_file(d, filled=key), nl=False)
        return
    if answers is None:
        raise click.UsageError("give an ANSWERS file (or --blank for one to fill in)")
    given = read_answers(answers, d)
    report = check_answers(d, given, Tolerance.of(given.tolerance, rtol=rtol, atol=atol, min_digits=min_digits))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, allow_nan=False))
    else:
        click.echo(render_report(report, fmt=fmt), nl=False)
    sys.exit(0 if report.ok else 1)


def _check_class(spec_or_dir: str, submissions: Path, out_dir: Path | None) -> None:
    """derive check VARIANTS_DIR SUBMISSIONS_DIR -o REPORT_DIR: every student, one process."""
    from derive.grade.classroom import class_files, grade_class

    if out_dir is None:
        raise click.UsageError("a whole class needs -o REPORT_DIR")
    spec = None if Path(spec_or_dir).is_dir() else _load(spec_or_dir)
    results = grade_class(Path(spec_or_dir), submissions, spec=spec)
    write_files(out_dir, class_files(results), quiet=True)
    failed = sum(r.score is None for r in results)
    click.echo(f"graded {len(results) - failed} of {len(results)} submissions"
               f"{f' ({failed} not gradable: see grades.csv)' if failed else ''}; wrote {out_dir}", err=True)


@cli.command()
@_language_option
@click.argument("spec_or_preset", metavar="SPEC_OR_PRESET")
@click.argument("document", metavar="DOCUMENT")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True,
              help="The report's format.")
def audit(spec_or_preset, document, fmt):
    """Audit a derivation written by anyone against SPEC_OR_PRESET: every number and equation of DOCUMENT.

    \b
    DOCUMENT is Markdown, LaTeX, HTML, a Jupyter notebook or plain text (at most 2 MB). Each number
    is matched to the quantity it states (by its name in any common notation, else by its value) and
    judged at the digits it shows; each chain a = b = c ≈ d is checked. Exit status 0 when nothing is
    wrong or inconsistent, 1 otherwise, 2 when DOCUMENT cannot be read.
    """
    from derive.grade.audit.documents import read_document
    from derive.grade.audit.report import audit as run_audit, render_audit

    d = _load(spec_or_preset)
    report = run_audit(d, read_document(document))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, allow_nan=False))
    else:
        click.echo(render_audit(report, fmt=fmt), nl=False)
    sys.exit(0 if report.ok else 1)


def _finite(param, value: float | None) -> float | None:
    """A tolerance must be a finite number (inf or 1e400 would accept anything and cannot be written as JSON)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"expected a finite number, got {value}", param=param)
    return value


@cli.command()
@_language_option
@click.argument("spec_or_preset", metavar="SPEC_OR_PRESET")
@click.option("--variants", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="How many variants to draw (variant k is the same whatever this number is).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="The seed of the draws: the same seed writes the same files.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory to write into (created if needed).")
@click.option("--scope", help="What the student computes, comma-separated: forward, loss, output-layer, "
                              "hidden-layers, update, or all (default: the spec's [worksheet] scope, else all).")
@click.option("-f", "--format", "fmt", default="md", show_default=True,
              help="Comma-separated: md (a sheet and a key per variant, a combined key), pdf (sheets.pdf and "
                   "keys.pdf; needs pdflatex), moodle (moodle.xml, a quiz for Moodle's XML import), moodle-cloze "
                   "(moodle-cloze.xml, one cloze question per variant), qti (qti.zip, QTI 1.2 for Canvas), gift "
                   "(gift.txt), prairielearn (a question directory prairielearn/NAME/).")
@click.option("--decimals", type=click.IntRange(0, 8), help="Decimal places of the answers (default 4, or the spec's).")
@click.option("--carry/--no-carry", default=None,
              help="Round every intermediate result and carry it rounded (default: no, or the spec's).")
@click.option("--notation", type=click.Choice(NOTATIONS), default="inout", show_default=True,
              help="Names on the sheets, as for render.")
@click.option("--blanks", type=click.IntRange(1, 10000),
              help="At most N blanks per sheet, spread over the scope (default: every one; or the spec's).")
@click.option("--variant", "code", metavar="CODE",
              help="Make one variant again from the code its sheet prints (7-03: seed 7, variant 3).")
def worksheet(spec_or_preset, variants, seed, out_dir, scope, fmt, decimals, carry, notation, blanks, code):
    """Write randomized variants of SPEC_OR_PRESET with numbered blanks, their keys and answers files.

    \b
    For each variant NN: variant-NN.toml (its spec), variant-NN.answers.toml (blank, for
    derive check), variant-NN.key.toml (filled in), and per format the sheet and the key.
    """
    from derive.worksheets.write import FORMATS, worksheet_files
    from derive.spec.parse import load_spec, parse_scope

    formats = tuple(f.strip() for f in fmt.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise click.UsageError(f"-f: unknown format '{unknown[0] if unknown else fmt}'; expected some of "
                               f"{', '.join(FORMATS)}")
    parts = parse_scope(scope) if scope is not None else None
    only = None
    if code is not None:
        from derive.worksheets.lms import parse_variant_code

        try:
            code_seed, only = parse_variant_code(code)
        except ValueError as exc:
            raise click.UsageError(f"--variant: {exc}") from None
        if code_seed is not None:
            seed = code_seed
        variants = max(variants, only)
    base = load_spec(spec_or_preset)
    if getattr(base, "kind", None) == "circuit":
        from derive.worksheets.circuit import circuit_worksheet_files

        if scope is not None or carry is not None or notation != "inout":
            raise click.UsageError("--scope, --carry and --notation are for networks: a circuit's sheet asks every "
                                   "value and gradient, in the circuit's own names")
        files = circuit_worksheet_files(base, variants=variants, seed=seed, formats=formats, decimals=decimals,
                                        blanks=blanks, only=only)
        write_files(out_dir, files, quiet=True)
        made = 1 if only is not None else variants
        click.echo(f"wrote {made} variant{'s' if made != 1 else ''} ({len(files)} files) to {out_dir}", err=True)
        return
    show = sys.stderr.isatty() and variants > 1 and only is None
    with click.progressbar(length=variants, label="variants", file=sys.stderr) if show else _Quiet() as bar:
        files = worksheet_files(base, variants=variants, seed=seed, formats=formats, scope=parts,
                                notation=notation, decimals=decimals, carry=carry, progress=lambda k: bar.update(1),
                                blanks=blanks, only=only)
    write_files(out_dir, files, quiet=True)
    made = 1 if only is not None else variants
    click.echo(f"wrote {made} variant{'s' if made != 1 else ''} ({len(files)} files) to {out_dir}", err=True)


class _Quiet:
    """A progress bar that shows nothing (standard error is not a terminal)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


@cli.command()
def presets():
    """List the built-in specs, one a line: name, then title."""
    from derive.spec.parse import load_spec, preset_names

    for name in preset_names():
        click.echo(f"{name}\t{load_spec(name).title}")


def _one_line(message: str) -> str:
    """A message as one line: a newline or other control character from a file or a name is escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in message)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; a DeriveError becomes one line on stderr and its exit status."""
    try:
        cli.main(args=argv, prog_name="derive", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("derive: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"derive: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except DeriveError as exc:
        click.echo(f"derive: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_status)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug in derive: still one line, unless asked for the traceback
        if os.environ.get("DERIVE_DEBUG"):
            raise
        click.echo(f"derive: internal error: {type(exc).__name__}: {_one_line(str(exc))[:300]} (a bug in derive; please report it; "
                   "DERIVE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(3)
    sys.exit(0)


#: The cyclic garbage collector's thresholds in a ``derive`` process (see :func:`run`).
GC_THRESHOLDS = (200_000, 100, 1000)


def run() -> None:
    """The ``derive`` command (and ``python -m derive``): :func:`main`, then a quick exit.

    A command lives a few seconds and makes few reference cycles, while SymPy keeps hundreds of
    thousands of objects that every collection of the older generations walks: the collector runs
    rarely (:data:`GC_THRESHOLDS`; 0.05-0.4 s less for a large page, a few MB more at most).
    Once the output is flushed and the exit handlers have run, the process ends without
    tearing the interpreter down: freeing every SymPy object one by one takes about 0.09 s,
    as long as all of derive's own work on a small network. :func:`main` itself exits normally
    (tests and scripts call it in-process).
    """
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"), as Python itself handles it
        print(code, file=sys.stderr)
        code = 1
    code = code or 0
    try:
        import atexit

        atexit._run_exitfuncs()  # what a normal exit runs first: temporary files removed, worker pools joined
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BrokenPipeError:  # the reader went away (`derive values … | head`): as main() treats it
        pass
    except Exception:  # anything else unusual at exit: let Python exit the ordinary way
        sys.exit(code)
    os._exit(code)
