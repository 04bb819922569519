"""A whole class at once: `derive check VARIANTS_DIR SUBMISSIONS_DIR -o REPORT_DIR`.

Every file ``STUDENT.toml`` in the submissions directory is one student's answers file (of a network's
worksheet or a circuit's: each is read and judged as `derive check` does it); its
``[worksheet] variant`` (as the blank file a worksheet writes carries it: ``"7-03"``) says which
``variant-NN.toml`` of the variants directory it answers. Each variant is derived once, and every
student is judged in this one process. A submission that cannot be graded (not TOML, an
unknown variant, a hostile value) is one line in that student's report and row, never the end
of the run.

Written to the report directory:

- ``grades.csv``: student, variant, score (the share of the blanks right, 0 to 1), error, then one
  column per blank (1 right, 0 wrong, ? cannot judge, empty: not answered);
- ``students/STUDENT.md``: each student's report, as `derive check --format md` writes it;
- ``summary.md`` and ``mistakes.svg``: how many students made each mistake, and at which steps.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from derive.errors import DeriveError
from derive.i18n import _
from derive.spec.circuit import is_circuit

#: Submissions larger than this many files are refused (a class, not a file system).
MAX_STUDENTS = 5000
FOLLOWS = "follows correctly from your wrong answer"


@dataclass
class Result:
    student: str
    variant: str = ""
    score: float | None = None
    error: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    report: object | None = None
    mistakes: list[tuple[str, str]] = field(default_factory=list)
    """(diagnosis, quantity) of each wrong answer a classic mistake or slip explains."""
    follows: list[str] = field(default_factory=list)
    """Quantities right from the student's own wrong values."""


def _student_id(path: Path) -> str:
    """The file's stem, kept to letters, digits, - _ . (it names a report file)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:80].lstrip(".")
    return stem or "_"


class Variants:
    """The variants directory: each variant's spec derived once, on first use."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._cache: dict[int, tuple] = {}

    def get(self, code: str | None, source: str = ""):
        """(label, derivation, blank names) of the variant a code names; DeriveError when there is none."""
        from derive.errors import SpecError
        from derive.worksheets.lms import parse_variant_code

        if code is None:
            raise SpecError(source, "worksheet.variant", "the file does not say its variant ([worksheet] variant = \"7-03\")")
        try:
            seed, k = parse_variant_code(code)
        except ValueError as exc:
            raise SpecError(source, "worksheet.variant", str(exc)) from None
        if k not in self._cache:
            path = self.folder / f"variant-{k:02d}.toml"
            if not path.is_file():
                raise SpecError(source, "worksheet.variant", f"no variant {code} in {self.folder} (no {path.name})")
            self._cache[k] = self._load(path)
        label, d, names, drawn = self._cache[k]
        if seed is not None and drawn is not None and seed != drawn:
            raise SpecError(source, "worksheet.variant", f"variant {code} is of seed {seed}, but {self.folder}'s "
                                                     f"variants were drawn with seed {drawn}")
        return label, d, names

    @staticmethod
    def _load(path: Path):
        from derive.pipeline import derive
        from derive.spec.parse import load_spec

        text = path.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"drawn with seed (\d+)", text[:2000])
        d = derive(load_spec(str(path)), symbolic=False)
        key = path.with_name(path.stem + ".key.toml")
        names = None
        if key.is_file():
            import tomllib

            doc = tomllib.loads(key.read_text(encoding="utf-8"))
            if is_circuit(d):  # one flat table: q, df/dq
                names = [name for name, value in doc.items() if not isinstance(value, dict)]
            else:
                names = [f"{table}.{name}" for table, values in _tables(doc) for name in values
                         if table not in ("tolerance", "rounding", "worksheet")]
        return path.stem.removeprefix("variant-"), d, names, int(m.group(1)) if m else None


def _tables(doc: dict, prefix: str = ""):
    for key, value in doc.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            plain = {k: v for k, v in value.items() if not isinstance(v, dict)}
            if plain:
                yield name, plain
            yield from _tables(value, name)


def _judge(path: Path, d):
    """One answers file read and judged against a derivation: a network's or a circuit's."""
    from derive.grade.judge import Tolerance

    if is_circuit(d):
        from derive.grade.circuit import check_circuit as check, read_circuit_answers as read
    else:
        from derive.grade.answers import read_answers as read
        from derive.grade.judge import check_answers as check
    answers = read(path, d)
    return check(d, answers, Tolerance.of(answers.tolerance))


def answers_name(d, q) -> str:
    """A quantity's name in the answers files (and grades.csv's columns): ``instance1.dL/dw11``; of a circuit
    ``q``, ``df/dq``."""
    return q.key if is_circuit(d) else q.name


def grade_class(variants: Path, submissions: Path, *, spec=None) -> list[Result]:
    """Judge every submission (``spec``: one derivation for everyone instead of a variants directory), of a network
    or of a circuit."""
    from derive.errors import SpecError

    folder = Path(submissions)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".toml" and not p.name.startswith("."))
    if len(files) > MAX_STUDENTS:
        raise SpecError(str(folder), "", f"more than {MAX_STUDENTS} answers files")
    pool = Variants(variants) if spec is None else None
    results, seen = [], Counter()
    for path in files:
        student = _student_id(path)
        seen[student] += 1
        if seen[student] > 1:
            student = f"{student}~{seen[student]}"
        r = Result(student=student)
        results.append(r)
        try:
            if not path.is_file():
                raise SpecError(str(path), "", "not a regular file")
            if pool is None:
                d, names = spec, None
            else:
                # the variant first: the file names it, and its quantities are the variant's
                r.variant = _variant_code(path)
                _, d, names = pool.get(r.variant, str(path))
            report = _judge(path, d)
        except DeriveError as exc:
            r.error = str(exc).replace("\n", " ")
            continue
        except (OSError, UnicodeError, RecursionError, MemoryError, ValueError) as exc:
            r.error = f"{path.name}: cannot be read ({type(exc).__name__})"
            continue
        r.report = report
        wanted = names or list(dict.fromkeys(answers_name(d, v.quantity) for v in report.verdicts))
        status: dict[str, str] = {}
        for v in report.verdicts:
            mark = {"correct": "1", "wrong": "0"}.get(v.status, "?")
            name = answers_name(d, v.quantity)
            status[name] = mark if name not in status else min(status[name], mark)  # any wrong copy: wrong
            if v.status == "wrong" and v.diagnosis:
                if v.first_wrong:
                    r.follows.append(name)
                else:
                    for one in v.diagnosis.split("; or "):
                        r.mistakes.append((one, name))
        r.cells = {n: status.get(n, "") for n in wanted}
        r.score = sum(status.get(n) == "1" for n in wanted) / len(wanted) if wanted else 0.0
    return results


def _variant_code(path: Path) -> str | None:
    """The ``[worksheet] variant`` of an answers file, read before the variant is known."""
    from derive.errors import SpecError
    from derive.files import read_bounded
    from derive.grade.answers import MAX_ANSWERS_BYTES
    from derive.spec.parse import read_toml

    try:
        raw = read_bounded(path, MAX_ANSWERS_BYTES)  # a 5 GB submission is not read whole
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    if raw is None:
        raise SpecError(str(path), "", f"the answers file is larger than {MAX_ANSWERS_BYTES} bytes")
    try:
        doc = read_toml(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise SpecError(str(path), "", "not a UTF-8 text file") from None
    table = doc.get("worksheet")
    code = table.get("variant") if isinstance(table, dict) else None
    if code is None:
        raise SpecError(str(path), "worksheet.variant", "the file does not say its variant ([worksheet] variant = \"7-03\")")
    if isinstance(code, bool) or not isinstance(code, (str, int)) or len(str(code)) > 40:
        raise SpecError(str(path), "worksheet.variant", "expected a variant code like \"7-03\"")
    return str(code)


# --------------------------------------------------------------------------- the files


def grades_csv(results: list[Result]) -> str:
    columns = list(dict.fromkeys(n for r in results for n in r.cells))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "variant", "score", "error", *columns])
    for r in results:
        w.writerow([_cell(r.student), _cell(r.variant), "" if r.score is None else f"{r.score:.4f}", _cell(r.error),
                    *[r.cells.get(c, "") for c in columns]])
    return out.getvalue()


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")


def _grouped(texts: set[str]) -> dict[str, str]:
    """Diagnoses that differ in their numbers only (learning rate 0.05, 0.099, … instead of 0.5) →
    one text with "…" where the numbers differ."""
    groups: dict[str, list[str]] = defaultdict(list)
    for text in sorted(texts):
        groups[NUMBER.sub("#", text)].append(text)
    out = {}
    for members in groups.values():
        if len(members) == 1:
            out[members[0]] = members[0]
            continue
        words = [NUMBER.split(t) for t in members]
        numbers = [NUMBER.findall(t) for t in members]
        shown = words[0][0]
        for i, number in enumerate(numbers[0]):
            same = all(n[i] == number for n in numbers)
            shown += (number if same else "…") + words[0][i + 1]
        out.update({t: shown for t in members})
    return out


def summary(results: list[Result]) -> tuple[list[tuple[str, int, Counter]], Counter]:
    """Per diagnosis: (diagnosis, students who made it, steps → students), most frequent first; and the
    steps at which students' numbers followed from their own wrong ones. Diagnoses that differ in
    their numbers only are counted together."""
    group = _grouped({d for r in results for d, _ in r.mistakes})
    students: dict[str, set] = defaultdict(set)
    steps: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        for diagnosis, name in r.mistakes:
            students[group[diagnosis]].add(r.student)
        for diagnosis, name in {(group[d], n) for d, n in r.mistakes}:
            steps[diagnosis][name] += 1
    follows = Counter(name for r in results for name in set(r.follows))
    rows = sorted(((d, len(s), steps[d]) for d, s in students.items()), key=lambda row: (-row[1], row[0]))
    return rows, follows


def summary_markdown(results: list[Result], chart: str | None) -> str:
    rows, follows = summary(results)
    graded = [r for r in results if r.score is not None]
    lines = ["# " + _("Class summary"), "",
             _("%(all)s submissions: %(graded)s graded, %(failed)s not gradable (see the error column of grades.csv).")
             % {"all": len(results), "graded": len(graded), "failed": len(results) - len(graded)}]
    if graded:
        mean = sum(r.score for r in graded) / len(graded)
        full = sum(r.score == 1 for r in graded)
        lines += [_("Mean score %(mean)s; %(full)s with every blank right.") % {"mean": f"{mean:.3f}", "full": full}, ""]
    if chart:
        lines += ["![" + _("How many students made each mistake") + f"]({chart})", ""]
    lines += ["## " + _("Mistakes"), "", _("How many students made each mistake (a number the mistake explains), and "
                                           "at which steps (the quantities, with how many students)."), "",
              "| " + " | ".join((_("mistake"), _("students"), _("steps"))) + " |", "|---|---|---|"]
    for diagnosis, count, steps in rows:
        where = ", ".join(f"`{n}` ({c})" for n, c in steps.most_common(6))
        more = len(steps) - 6
        if more > 0:
            where += ", " + _("and %(n)s more") % {"n": more}
        lines.append(f"| {diagnosis.replace('|', '/')} | {count} | {where} |")
    if not rows:
        lines.append("| (" + _("none") + ") | 0 | |")
    if follows:
        lines += ["", "## " + _("Numbers that follow from a student's own wrong one"), "",
                  "| " + _("step") + " | " + _("students") + " |", "|---|---|"]
        lines += [f"| `{n}` | {c} |" for n, c in follows.most_common()]
    errors = [r for r in results if r.error]
    if errors:
        lines += ["", "## " + _("Not gradable"), "", "| " + _("student") + " | " + _("why") + " |", "|---|---|"]
        lines += [f"| {r.student} | {r.error.replace('|', '/')} |" for r in errors]
    return "\n".join(lines) + "\n"


def chart_svg(results: list[Result]) -> bytes | None:
    """A horizontal bar chart: students per mistake (None when nobody made one)."""
    rows, _follows = summary(results)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows[:15]
    labels = [_short(d) for d, _, _ in rows][::-1]
    counts = [c for _, c, _ in rows][::-1]
    with matplotlib.rc_context({"svg.hashsalt": "derive", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
        ax.barh(range(len(rows)), counts, color="#4878a8")
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xlabel(_("students"))
        ax.set_title(_("Classic mistakes in the class"))
        ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    return buf.getvalue()


def _short(text: str, width: int = 60) -> str:
    text = text.split(":")[0] if len(text) > width else text
    return text if len(text) <= width else text[: width - 1] + "…"


def class_files(results: list[Result]) -> dict[str, str | bytes]:
    """Every file of the report directory, by name."""
    from derive.render.page import render_report

    files: dict[str, str | bytes] = {"grades.csv": grades_csv(results)}
    for r in results:
        if r.report is not None:
            text = render_report(r.report, fmt="md")
        else:
            text = "# " + _("Check of %(student)s") % {"student": r.student} + "\n\n" + _("Not graded: %(why)s") % {
                "why": r.error} + "\n"
        files[f"students/{r.student}.md"] = text
    chart = chart_svg(results)
    if chart is not None:
        files["mistakes.svg"] = chart
    files["summary.md"] = summary_markdown(results, "mistakes.svg" if chart else None)
    return files


# --------------------------------------------------------------------------- a class to try it on


def simulated_class(variants: Path, out: Path, students: int, *, seed: int = 0) -> dict[str, str]:
    """Write ``students`` answers files into ``out`` for the worksheet in ``variants`` (a network's or a circuit's):
    a mix of right sheets, whole sheets done under one classic mistake, single slips, blanks left out, and a few
    malformed files (not TOML, an unknown variant, hostile values). For trying the class check and
    timing it; returns student → what was simulated."""
    import random
    import tomllib

    from derive.grade.judge import mistakes
    from derive.pipeline import derive
    from derive.spec.parse import load_spec

    rng = random.Random(seed)
    keys = sorted(Path(variants).glob("variant-*.key.toml"))
    if not keys:
        raise FileNotFoundError(f"no variant-NN.key.toml in {variants}")
    loaded = []
    for key in keys:
        doc = tomllib.loads(key.read_text(encoding="utf-8"))
        spec = load_spec(str(key.with_name(key.name.replace(".key.toml", ".toml"))))
        loaded.append((doc, mistakes(derive(spec, symbolic=False)), is_circuit(spec)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for i in range(students):
        doc, wrong, circuit = loaded[i % len(loaded)]
        code = doc["worksheet"]["variant"]
        if circuit:  # one flat table (q, df/dq), written first
            values = {"": {k: v for k, v in doc.items() if not isinstance(v, dict)}}
        else:
            values = {t: dict(v) for t, v in _tables(doc) if t not in ("tolerance", "rounding", "worksheet")}
        full = (lambda table, k: k) if circuit else (lambda table, k: f"{table}.{k}")  # noqa: E731
        roll = rng.random()
        what = "right"
        if roll < 0.35:
            families = sorted({m[0].split("-")[0] for m in wrong})  # not 200 learning rates against one sign
            family = rng.choice(families)
            label, _text, alt = rng.choice([m for m in wrong if m[0].split("-")[0] == family])
            what = f"mistake {label}"
            for table, row in values.items():
                for k in row:
                    if full(table, k) in alt:
                        row[k] = round(alt[full(table, k)], 4)
        elif roll < 0.55:
            table = rng.choice(list(values))
            k = rng.choice(list(values[table]))
            values[table][k] = -values[table][k] if values[table][k] else 1.0
            what = f"slip {full(table, k)}"
        elif roll < 0.62:
            for table in values:
                for k in list(values[table])[len(values[table]) // 2:]:
                    values[table][k] = ""
            what = "half left blank"
        name = f"s{i + 1:04d}"
        if roll > 0.97:
            first = next(iter(values[""])) if circuit else None
            value = (lambda v: f'"{first}" = {v}\n[worksheet]\nvariant = "{code}"\n') if circuit else \
                (lambda v: f'[worksheet]\nvariant = "{code}"\n[instance1]\nh1_in = {v}\n')
            text, what = rng.choice([
                ("this is = not [toml\n", "not TOML"),
                ('[worksheet]\nvariant = "99-77"\n', "unknown variant"),
                (value(f'"{"(" * 60}1{")" * 60}"'), "hostile formula"),
                (value("1e999"), "infinite number"),
                (f'[worksheet]\nvariant = "{code}"\n[nonsense]\nx = 1\n', "unknown table"),
            ])
        else:
            lines = [f'"{k}" = {v!r}' if v != "" else f'"{k}" = ""' for k, v in values.pop("", {}).items()]
            lines += ["[worksheet]", f'variant = "{code}"']
            for table in ("tolerance", "rounding"):  # as the blank file a worksheet writes carries them
                if table in doc:
                    lines += ["", f"[{table}]"] + [f"{k} = {_toml_scalar(v)}" for k, v in doc[table].items()]
            for table, row in values.items():
                lines += ["", f"[{table}]"]
                lines += [f'"{k}" = {v!r}' if v != "" else f'"{k}" = ""' for k, v in row.items()]
            text = "\n".join(lines) + "\n"
        (out / f"{name}.toml").write_text(text, encoding="utf-8")
        made[name] = what
    return made


def _toml_scalar(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else repr(v)
