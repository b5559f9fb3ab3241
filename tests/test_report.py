"""`grade batch`'s report.html and feedback pages, in a real headless Chromium: they render with
no error and ask for nothing over the network, their numbers are those of scores.csv and of the
result documents, and a student's folder name is shown as text, whatever it holds."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import catalog
from grader.classroom import report

from .conftest import run_grade, with_override
from .variants.ex03_gather_nll import WRONG

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.xdist_group("report")

SEED = 777
EX03, EX09 = catalog.find("ex03"), catalog.find("ex09")
ADA = "ada lovelace"  # a space
ZOE = "zoë 李"  # not ASCII
MARKUP = "<img src=x onerror=alert(1)> & 'co' \"q\""  # would run, if it were not escaped
CRASH = "import os\n\nos._exit(3)\n"


def _batch(root: Path, work: dict[tuple[str, str], str]) -> tuple[Path, str]:
    for (student, kata), code in work.items():
        (root / student).mkdir(parents=True, exist_ok=True)
        (root / student / f"{kata}.py").write_text(code)
    out = root.parent / f"{root.name}-grades"
    done = run_grade(
        "batch", str(root), "--out", str(out), "--seed", str(SEED), "--time-limit", "1.5"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A class with a pass, a misconception, a crash, a hang and a missing file."""
    return _batch(
        tmp_path_factory.mktemp("class"),
        {
            (ADA, EX03.name): EX03.solution_path.read_text(),
            (ADA, EX09.name): EX09.solution_path.read_text(),
            (ZOE, EX03.name): with_override("ex03", WRONG["ex03/missing-minus"]),
            (MARKUP, EX03.name): CRASH,
            (MARKUP, EX09.name): EX09.stub_text(),
            ("dee", EX03.name): "while True:\n    pass\n",
            ("dee", EX09.name): EX09.solution_path.read_text(),
        },
    )


@dataclass
class Shown:
    """A page as Chromium showed it, and whatever went wrong on the way."""

    page: object
    errors: list[str] = field(default_factory=list)

    def all(self, selector: str, script: str) -> list:
        return self.page.eval_on_selector_all(selector, script)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def show(browser) -> Iterator:
    pages = []

    def show(path: Path) -> Shown:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        pages.append(page)
        shown = Shown(page)
        page.on("console", lambda m: shown.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: shown.errors.append(f"page error: {e}"))
        page.on("dialog", lambda d: (shown.errors.append(f"a dialog: {d.message}"), d.dismiss()))
        page.on(
            "request",
            lambda r: None if r.url == path.as_uri() else shown.errors.append(f"asked {r.url}"),
        )
        page.goto(path.as_uri())
        return shown

    yield show
    for page in pages:
        page.close()


def _csv(out: Path) -> list[dict[str, str]]:
    with (out / "scores.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


GRADED = ("passed", "partial", "failed")


def test_the_report_renders_with_no_error_and_no_request(graded, show) -> None:
    out, _ = graded
    shown = show(out / "report.html")
    assert shown.errors == []
    assert shown.page.title() == "Class report"
    assert shown.all("svg", "els => els.length") > 0, "no plot was drawn"


def test_every_score_shown_is_the_csv_s(graded, show) -> None:
    out, _ = graded
    shown = show(out / "report.html")
    cells = shown.all(
        "td.score", "els => els.map(e => [e.dataset.student, e.dataset.kata, e.textContent])"
    )
    by_key = {(student, kata): text for student, kata, text in cells}
    table = _csv(out)
    assert len(cells) == len(by_key) == len(table)
    for row in table:
        text = by_key[(row["student"], row["kata"])]
        if row["status"] in GRADED:
            assert float(text) == float(row["score"]), row
        else:
            assert text == row["status"], row
    totals = shown.all("tr", "els => els.map(e => [e.querySelector('th')?.textContent, "
                       "e.querySelector('td.total')?.textContent])")  # fmt: skip
    for student, total in totals:
        if total is None:
            continue
        got, most = (float(part) for part in total.split("/"))
        own = [row for row in table if row["student"] == student]
        assert got == sum(float(row["score"]) for row in own)
        assert most == sum(float(row["max_score"]) for row in own)


def test_each_kata_s_distribution_counts_the_csv_s_scores(graded, show) -> None:
    out, _ = graded
    shown = show(out / "report.html")
    figures = shown.all(
        "figure.kata",
        """els => els.map(f => [f.dataset.kata,
            [...f.querySelectorAll('g.bin text.count')].map(t => Number(t.textContent || 0)),
            f.querySelector('.mean')?.textContent])""",
    )
    table = _csv(out)
    assert {kata for kata, _, _ in figures} == {EX03.name, EX09.name}
    for kata, counts, mean in figures:
        scores = [float(r["score"]) for r in table if r["kata"] == kata and r["status"] in GRADED]
        most = catalog.find(kata).points
        expected = [0] * 11  # tenths of the points, then full marks
        for score in scores:
            expected[10 if score >= most else int(score / (most / 10))] += 1
        assert counts == expected, kata
        assert float(mean) == pytest.approx(statistics.fmean(scores), abs=0.005)


def test_each_check_s_pass_rate_is_the_results(graded, show) -> None:
    out, _ = graded
    shown = show(out / "report.html")
    rates = shown.all(
        "tr.check",
        """els => els.map(r => [r.dataset.kata, r.dataset.check,
            Number(r.querySelector('.passed-count').textContent),
            Number(r.querySelector('.graded-count').textContent)])""",
    )
    tally: dict[tuple[str, str], list[int]] = {}
    statuses = {(r["student"], r["kata"]): r["status"] for r in _csv(out)}
    for path in out.glob("*.json"):
        for doc in json.loads(path.read_text(encoding="utf-8")):
            kata = doc["extra_data"]["kata"]
            if statuses[(path.stem, kata)] not in GRADED:
                continue
            for test in doc["tests"]:
                counts = tally.setdefault((kata, test["name"]), [0, 0])
                counts[0] += test["status"] == "passed"
                counts[1] += 1
    assert {(kata, check): [p, n] for kata, check, p, n in rates} == tally


def test_misconceptions_say_how_many_and_who(graded, show) -> None:
    out, stdout = graded
    shown = show(out / "report.html")
    rows = shown.all(
        "tr.misconception",
        "els => els.map(r => [r.dataset.tag, r.querySelector('.students-count').textContent, "
        "r.children[2].textContent, r.querySelector('pre')?.textContent])",
    )
    found = {tag: (count, who, text) for tag, count, who, text in rows}
    count, who, text = found["ex03/missing-minus"]
    assert (count, who) == ("1", ZOE)
    zoe = json.loads((out / f"{ZOE}.json").read_text(encoding="utf-8"))[0]
    told = [t["output"] for t in zoe["tests"] if "ex03/missing-minus" in t["tags"]]
    assert text in told, "the example is not what the student was told"
    assert f"ex03/missing-minus: 1 student ({ZOE})" in stdout


def test_crashes_hangs_and_missing_files_are_listed(graded, show) -> None:
    out, stdout = graded
    shown = show(out / "report.html")
    listed = shown.all(
        "tr.attention", "els => els.map(r => [r.dataset.student, r.dataset.what, "
        "r.children[2].textContent])",
    )  # fmt: skip
    assert sorted(map(tuple, listed)) == sorted(
        [(MARKUP, "crashed", EX03.name), ("dee", "hung", EX03.name), (ZOE, "missing", EX09.name)]
    )
    for line in (f"crashed in {EX03.name}: {MARKUP}", f"hung in {EX03.name}: dee"):
        assert line in stdout


def test_names_are_shown_as_text(graded, show) -> None:
    out, _ = graded
    assert "<img" not in (out / "report.html").read_text(encoding="utf-8")
    shown = show(out / "report.html")
    assert shown.all("img", "els => els.length") == 0
    heads = shown.all("tbody th", "els => els.map(e => e.textContent)")
    assert sorted(heads) == sorted([ADA, ZOE, MARKUP, "dee"])


@pytest.mark.parametrize("student", [ADA, ZOE, MARKUP])
def test_each_student_s_feedback_shows_what_every_check_said(graded, show, student) -> None:
    out, _ = graded
    page = out / "feedback" / f"{student}.html"
    shown = show(page)
    assert shown.errors == []
    assert shown.page.title() == f"Feedback for {student}"
    said = shown.all("pre", "els => els.map(e => e.textContent)")
    for doc in json.loads((out / f"{student}.json").read_text(encoding="utf-8")):
        assert doc["output"] in said
        assert all(t["output"] in said for t in doc["tests"] if t["output"])
    text = page.read_text(encoding="utf-8")
    others = {ADA, ZOE, "dee"} - {student}
    assert not any(other in text for other in others), "another student's name is there"


def test_a_class_where_everyone_crashed_still_renders(tmp_path: Path, show) -> None:
    out, _ = _batch(tmp_path / "class", {("a", EX03.name): CRASH, ("b", EX03.name): CRASH})
    shown = show(out / "report.html")
    assert shown.errors == []
    counts = shown.all("g.bin", "els => els.map(g => g.querySelector('text.count').textContent)")
    assert counts[0] == "2" and not any(counts[1:])
    assert shown.all("tr.attention", "els => els.map(r => r.dataset.what)") == ["crashed"] * 2
    assert "No check named a misconception." in shown.page.content()


def test_a_class_of_one_still_renders(tmp_path: Path, show) -> None:
    out, stdout = _batch(tmp_path / "class", {("solo", EX09.name): EX09.solution_path.read_text()})
    shown = show(out / "report.html")
    assert shown.errors == []
    counts = shown.all("g.bin", "els => els.map(g => g.querySelector('text.count').textContent)")
    assert counts[-1] == "1" and not any(counts[:-1]), "one full marks"
    assert "No crash, hang or missing file." in shown.page.content()
    assert "Class of 1 student:" in stdout


def test_a_student_id_that_is_no_file_name_gets_no_page(tmp_path: Path) -> None:
    """A gradebook's student id is not a folder's name: it must not write outside feedback/."""
    rows = [
        report.Row(student, "katas", EX03.name, 0.0, 10.0, "missing", "nothing handed in")
        for student in ("../outside", "..", "ok")
    ]
    report.write(tmp_path, rows)
    assert sorted(p.name for p in tmp_path.rglob("*.html")) == ["ok.html", "report.html"]
