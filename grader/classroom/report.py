"""What a graded class did, for its instructor: report.html, a terminal summary, and one
feedback page per student.

Everything is built once, at the end of `grade batch`, from the saved grades (one Row per
student, assignment and kata, as scores.csv has them). The report is one HTML file that needs
nothing else to be read: no script, no network; its plots are SVG drawn here. Every name and
message in it is escaped: a student's folder may be called anything. Check texts are those of
the result documents, which Result.to_gradescope() writes through Result.texts().
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog
from ..catalog import UnknownKata

CSV_FIELDS = ("student", "assignment", "kata", "score", "max_score", "status", "message")
GRADED = ("passed", "partial", "failed")  # statuses with a result that tells what the code did
# What the judge says when a submission's process died or ran out of time (grader/judge.py)
TROUBLE = {
    "hung": ("did not finish within",),
    "crashed": (
        "ended its process without answering",
        "went over the run's memory budget",
        "tried to start more than",
    ),
}
BINS = 10  # a kata's scores in ten equal steps, and full marks on their own
SHOWN = 8  # students named in a line of the terminal summary


@dataclass(frozen=True)
class Row:
    """One student's grade for one kata of one assignment: a line of scores.csv."""

    student: str
    assignment: str  # "" for a folder of files
    kata: str
    score: float
    max_score: float
    status: str  # one of GRADED, "error", "missing" or "ambiguous"
    message: str = ""  # why it was not graded, or the file's problem
    result: dict[str, Any] | None = field(default=None, compare=False)  # the result document

    def csv(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CSV_FIELDS}

    def trouble(self) -> str:
        """'hung' or 'crashed' when the run said so, else ''."""
        if self.result is None:
            return ""
        said = [self.result["output"], *(test["output"] for test in self.result["tests"])]
        for kind, phrases in TROUBLE.items():
            if any(phrase in text for text in said for phrase in phrases):
                return kind
        return ""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _points(value: float) -> str:
    return f"{value:g}"


def _kata_order(name: str) -> tuple[int, str]:
    try:
        return catalog.find(name).number, name
    except UnknownKata:
        return 10**6, name


def _columns(rows: Iterable[Row]) -> list[tuple[str, str]]:
    """The class's (assignment, kata) pairs, assignment by assignment, in learning order."""
    pairs = {(row.assignment, row.kata) for row in rows}
    return sorted(pairs, key=lambda pair: (pair[0], _kata_order(pair[1])))


def _label(assignment: str, kata: str) -> str:
    return f"{assignment} / {kata}" if assignment else kata


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _names(students: Iterable[str], limit: int | None = None) -> str:
    names = sorted(set(students))
    if limit is not None and len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


# -- what the report says, computed once ---------------------------------------------------


@dataclass
class KataStats:
    assignment: str
    kata: str
    max_score: float
    scores: list[float]  # of the graded submissions
    not_graded: Counter[str]  # missing, ambiguous, error: how many of each

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    def bins(self) -> list[int]:
        """How many scores fall in each tenth of the points, then how many got full marks."""
        counts = [0] * (BINS + 1)
        step = self.max_score / BINS if self.max_score else 1.0
        for score in self.scores:
            counts[BINS if score >= self.max_score else min(int(score / step), BINS - 1)] += 1
        return counts


@dataclass
class CheckStats:
    assignment: str
    kata: str
    name: str
    max_score: float
    passed: int = 0
    graded: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class Misconception:
    tag: str
    students: set[str] = field(default_factory=set)
    checks: set[str] = field(default_factory=set)  # "kata: check name"
    example: tuple[str, str] = ("", "")  # (student, text): the mistake as one student was told


@dataclass
class Attention:
    student: str
    what: str  # crashed, hung, missing, ambiguous, not graded
    where: str
    message: str = ""


@dataclass
class ClassStats:
    rows: list[Row]
    students: list[str]
    katas: list[KataStats]
    checks: list[CheckStats]
    misconceptions: list[Misconception]
    attention: list[Attention]

    @classmethod
    def of(cls, rows: list[Row]) -> ClassStats:
        columns = _columns(rows)
        katas = {pair: KataStats(*pair, 0.0, [], Counter()) for pair in columns}
        checks: dict[tuple[str, str, str], CheckStats] = {}
        misconceptions: dict[str, Misconception] = {}
        attention = []
        for row in sorted(rows, key=lambda r: (r.student, columns.index((r.assignment, r.kata)))):
            stats = katas[(row.assignment, row.kata)]
            stats.max_score = max(stats.max_score, row.max_score)
            where = _label(row.assignment, row.kata)
            if row.status not in GRADED or row.result is None:
                stats.not_graded[row.status] += 1
                what = row.status if row.status in ("missing", "ambiguous") else "not graded"
                attention.append(Attention(row.student, what, where, row.message))
                continue
            stats.scores.append(row.score)
            if trouble := row.trouble():
                attention.append(Attention(row.student, trouble, where, row.message))
            for test in row.result["tests"]:
                key = (row.assignment, row.kata, test["name"])
                check = checks.setdefault(key, CheckStats(*key, test["max_score"]))
                check.graded += 1
                check.passed += test["status"] == "passed"
                if test["status"] == "passed":
                    continue
                for tag in test["tags"]:
                    seen = misconceptions.setdefault(tag, Misconception(tag))
                    seen.students.add(row.student)
                    seen.checks.add(f"{row.kata}: {test['name']}")
                    if not seen.example[1] and _first_saying(test["output"]):
                        seen.example = (row.student, test["output"])
        return cls(
            rows=rows,
            students=sorted({row.student for row in rows}),
            katas=[katas[pair] for pair in columns],
            checks=list(checks.values()),
            misconceptions=sorted(misconceptions.values(), key=lambda m: (-len(m.students), m.tag)),
            attention=attention,
        )


def _first_saying(text: str) -> bool:
    """A check's text that says the mistake itself, not one pointing back to another check."""
    return not text.startswith("the same as for") and "(the same mistake as in" not in text


# -- the HTML -------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1c1c1e; margin: 2rem auto;
       max-width: 76rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; text-align: left;
         vertical-align: top; }
th { background: #f4f4f6; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; padding: .5rem .7rem; border: 1px solid #ddd; border-radius: 6px; }
figcaption { font-size: .85rem; color: #444; max-width: 22rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .2rem 0; padding: .35rem .5rem;
      font-size: .85rem; background: #f6f6f8; border-radius: 4px; }
.wide { overflow-x: auto; }
.passed { background: #e2f4e5; } .partial { background: #fff3d1; }
.failed { background: #fde3df; }
.missing, .ambiguous, .error { background: #efeff1; color: #555; font-style: italic; }
.note { color: #555; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _table(header: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f"<table><thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def _histogram(stats: KataStats) -> str:
    """The kata's score distribution as bars, one per tenth of the points and one for full
    marks, each labelled with its count."""
    counts = stats.bins()
    width, height, bar, top, base = 26, 96, 20, 18, 22
    tallest = max(counts) or 1
    step = stats.max_score / BINS if stats.max_score else 1.0
    parts = []
    for i, count in enumerate(counts):
        x = 8 + i * width
        h = round(count / tallest * height)
        low = stats.max_score if i == BINS else i * step
        label = "full" if i == BINS else _points(low)
        fill = "#2e9a4a" if i == BINS else "#4a78c2"
        parts.append(
            f'<g class="bin" data-low="{low:g}" data-count="{count}">'
            f'<rect x="{x}" y="{top + height - h}" width="{bar}" height="{h}" fill="{fill}"/>'
            f'<text class="count" x="{x + bar / 2}" y="{top + height - h - 4}" '
            f'text-anchor="middle" font-size="11">{count if count else ""}</text>'
            f'<text x="{x + bar / 2}" y="{top + height + 14}" text-anchor="middle" '
            f'font-size="10" fill="#555">{label}</text></g>'
        )
    total = 16 + len(counts) * width
    title = f"{_label(stats.assignment, stats.kata)}: how many students got each score"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{total}" '
        f'height="{top + height + base}" viewBox="0 0 {total} {top + height + base}">'
        f"<title>{_e(title)}</title>"
        f'<line x1="4" x2="{total - 4}" y1="{top + height}" y2="{top + height}" '
        f'stroke="#999"/>{"".join(parts)}</svg>'
    )


def _caption(stats: KataStats) -> str:
    graded = len(stats.scores)
    parts = [f'<span class="graded">{graded}</span> graded']
    if stats.mean is not None:
        parts.append(
            f'mean <span class="mean">{stats.mean:.2f}</span>/{_points(stats.max_score)}, '
            f"median {statistics.median(stats.scores):g}"
        )
        parts.append(f"full marks {sum(s >= stats.max_score for s in stats.scores)}")
    parts += [f"{count} {status}" for status, count in sorted(stats.not_graded.items())]
    return "; ".join(parts)


def _distribution(stats: ClassStats) -> str:
    figures = []
    for kata in stats.katas:
        plot = _histogram(kata) if kata.scores else '<p class="note">nothing was graded</p>'
        figures.append(
            f'<figure class="kata" data-assignment="{_e(kata.assignment)}" '
            f'data-kata="{_e(kata.kata)}"><strong>{_e(_label(kata.assignment, kata.kata))}'
            f"</strong><br>{plot}<figcaption>{_caption(kata)}</figcaption></figure>"
        )
    return (
        '<h2 id="distribution">Scores per kata</h2>\n<p class="note">Students per score, '
        "in tenths of the kata's points; the green bar is full marks.</p>\n"
        f'<div class="plots">{"".join(figures)}</div>'
    )


def _rate_bar(rate: float) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="10" aria-hidden="true">'
        '<rect width="100" height="10" fill="#eee"/>'
        f'<rect width="{rate * 100:.1f}" height="10" fill="#4a78c2"/></svg>'
    )


def _checks(stats: ClassStats) -> str:
    if not stats.checks:
        return '<h2 id="checks">Checks</h2>\n<p class="note">No submission was graded.</p>'
    lines = []
    for check in stats.checks:
        lines.append(
            f'<tr class="check" data-assignment="{_e(check.assignment)}" '
            f'data-kata="{_e(check.kata)}" data-check="{_e(check.name)}">'
            f"<td>{_e(_label(check.assignment, check.kata))}</td><td>{_e(check.name)}</td>"
            f'<td class="num">{_points(check.max_score)}</td>'
            f'<td class="num"><span class="passed-count">{check.passed}</span>/'
            f'<span class="graded-count">{check.graded}</span></td>'
            f'<td class="num">{_rate_bar(check.rate)} {check.rate:.0%}</td></tr>'
        )
    header = (
        '<th>kata</th><th>check</th><th class="num">points</th><th class="num">passed</th>'
        '<th class="num">rate</th>'
    )
    return '<h2 id="checks">Checks: how many passed</h2>\n' + _table(header, lines)


def _misconceptions(stats: ClassStats) -> str:
    title = '<h2 id="misconceptions">Most frequent misconceptions</h2>\n'
    if not stats.misconceptions:
        return title + '<p class="note">No check named a misconception.</p>'
    lines = []
    for seen in stats.misconceptions:
        student, text = seen.example
        example = f"<pre>{_e(text)}</pre><span class='note'>as {_e(student)} was told</span>"
        lines.append(
            f'<tr class="misconception" data-tag="{_e(seen.tag)}"><td><code>{_e(seen.tag)}'
            f'</code></td><td class="num students-count">{len(seen.students)}</td>'
            f"<td>{_e(_names(seen.students))}</td>"
            f"<td>{'<br>'.join(_e(c) for c in sorted(seen.checks))}</td>"
            f"<td>{example if text else ''}</td></tr>"
        )
    header = (
        '<th>misconception</th><th class="num">students</th><th>who</th><th>checks</th>'
        "<th>what they read</th>"
    )
    return (
        title + f'<p class="note">Of {len(stats.students)} students. Each tag is a mistake a '
        "check recognised.</p>\n" + _table(header, lines)
    )


def _attention(stats: ClassStats) -> str:
    title = '<h2 id="attention">Needs attention</h2>\n'
    if not stats.attention:
        return title + '<p class="note">No crash, hang or missing file.</p>'
    lines = [
        f'<tr class="attention" data-student="{_e(a.student)}" data-what="{_e(a.what)}">'
        f"<td>{_e(a.student)}</td><td>{_e(a.what)}</td><td>{_e(a.where)}</td>"
        f"<td>{_e(a.message)}</td></tr>"
        for a in stats.attention
    ]
    return (
        title + "<p class='note'>Crashes and hangs scored 0 on the checks they reached; a "
        "missing or ambiguous file was not graded.</p>\n"
        + _table("<th>student</th><th>what</th><th>kata</th><th>details</th>", lines)
    )


def _cell_text(row: Row) -> str:
    return _points(row.score) if row.status in GRADED else row.status


def _scores(stats: ClassStats) -> str:
    columns = [(kata.assignment, kata.kata) for kata in stats.katas]
    by_key = {(row.student, row.assignment, row.kata): row for row in stats.rows}
    head = "".join(f"<th>{_e(_label(*pair))}</th>" for pair in columns)
    lines = []
    for student in stats.students:
        cells, total, most = [], 0.0, 0.0
        for assignment, kata in columns:
            row = by_key.get((student, assignment, kata))
            if row is None:
                cells.append("<td></td>")
                continue
            total, most = total + row.score, most + row.max_score
            cells.append(
                f'<td class="num score {_e(row.status)}" data-student="{_e(student)}" '
                f'data-assignment="{_e(assignment)}" data-kata="{_e(kata)}" '
                f'title="{_e(row.message or row.status)}">{_e(_cell_text(row))}</td>'
            )
        lines.append(
            f"<tr><th>{_e(student)}</th>{''.join(cells)}"
            f'<td class="num total">{_points(total)}/{_points(most)}</td></tr>'
        )
    table = _table(f"<th>student</th>{head}<th>total</th>", lines)
    return f'<h2 id="scores">Every score</h2>\n<div class="wide">{table}</div>'


def class_report(rows: list[Row]) -> str:
    """report.html: the class at a glance."""
    stats = ClassStats.of(rows)
    graded = sum(row.status in GRADED for row in rows)
    overview = (
        f'<p><span id="students">{len(stats.students)}</span> students, '
        f'<span id="katas">{len(stats.katas)}</span> katas, '
        f'<span id="graded">{graded}</span> of {len(rows)} grades from a graded file. '
        "The numbers are those of scores.csv beside this file.</p>"
    )
    body = "\n".join(
        (
            "<h1>Class report</h1>",
            overview,
            _attention(stats),
            _distribution(stats),
            _checks(stats),
            _misconceptions(stats),
            _scores(stats),
        )
    )
    return _page("Class report", body)


def _feedback_line(test: dict[str, Any]) -> str:
    passed = test["status"] == "passed"
    text = f"<pre>{_e(test['output'])}</pre>" if test["output"] else ""
    return (
        f'<tr class="{"passed" if passed else "failed"}"><td>{"✓" if passed else "✗"}</td>'
        f"<td>{_e(test['name'])}</td>"
        f'<td class="num">{_points(test["score"])}/{_points(test["max_score"])}</td>'
        f"<td>{text}</td></tr>"
    )


def student_feedback(student: str, rows: list[Row]) -> str:
    """One student's page: each kata's score and what every check said."""
    sections = []
    for row in sorted(rows, key=lambda r: (r.assignment, _kata_order(r.kata))):
        head = (
            f"<h2>{_e(_label(row.assignment, row.kata))}: {_points(row.score)}/"
            f"{_points(row.max_score)} ({_e(row.status)})</h2>"
        )
        if row.result is None:
            why = f"<p>{_e(row.message)}</p>"
            sections.append(f'<section class="{_e(row.status)}">{head}{why}</section>')
            continue
        lines = [_feedback_line(test) for test in row.result["tests"]]
        sections.append(
            f"<section>{head}<pre>{_e(row.result['output'])}</pre>"
            f"<table>{''.join(lines)}</table></section>"
        )
    total = sum(row.score for row in rows)
    most = sum(row.max_score for row in rows)
    body = (
        f"<h1>Feedback for {_e(student)}</h1>\n<p>{_points(total)} of {_points(most)} points. "
        "Each check's message says what went wrong, in the terms of the exercise.</p>\n"
        + "\n".join(sections)
    )
    return _page(f"Feedback for {student}", body)


# -- the terminal ----------------------------------------------------------------------------


def summary(rows: list[Row], hardest: int = 5, frequent: int = 5) -> str:
    """The report's findings in a few lines, for stdout."""
    stats = ClassStats.of(rows)
    lines = [f"Class of {_count(len(stats.students), 'student')}:"]
    for kata in stats.katas:
        mean = "" if kata.mean is None else f", mean {kata.mean:.1f}/{_points(kata.max_score)}"
        full = sum(s >= kata.max_score for s in kata.scores)
        rest = "".join(f", {n} {status}" for status, n in sorted(kata.not_graded.items()))
        lines.append(
            f"  {_label(kata.assignment, kata.kata)}: {len(kata.scores)} graded{mean}, "
            f"full marks {full}{rest}"
        )
    hard = sorted(stats.checks, key=lambda c: (c.rate, c.kata))[:hardest]
    if hard:
        lines.append("Hardest checks:")
        lines += [
            f"  {c.rate:4.0%}  {c.kata}: {c.name} ({c.passed}/{c.graded} passed)" for c in hard
        ]
    if stats.misconceptions:
        lines.append("Most frequent misconceptions:")
        for seen in stats.misconceptions[:frequent]:
            lines.append(
                f"  {seen.tag}: {_count(len(seen.students), 'student')} "
                f"({_names(seen.students, SHOWN)})"
            )
    if stats.attention:
        lines.append("Needs attention:")
        by_what: dict[tuple[str, str], list[str]] = {}
        for a in stats.attention:
            by_what.setdefault((a.what, a.where), []).append(a.student)
        for (what, where), students in by_what.items():
            lines.append(f"  {what} in {where}: {_names(students, SHOWN)}")
    return "\n".join(lines)


def write(out: Path, rows: list[Row]) -> Path:
    """report.html in `out`, and feedback/<student>.html for every student; the report."""
    report = out / "report.html"
    report.write_text(class_report(rows), encoding="utf-8")
    folder = out / "feedback"
    folder.mkdir(exist_ok=True)
    by_student: dict[str, list[Row]] = {}
    for row in rows:
        by_student.setdefault(row.student, []).append(row)
    for student, own in by_student.items():
        if Path(student).name != student or student in (".", ".."):
            continue  # a gradebook's id that is no file name (a folder's name always is one)
        page = student_feedback(student, own)
        (folder / f"{student}.html").write_text(page, encoding="utf-8")
    return report
