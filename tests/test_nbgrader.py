"""A course through real nbgrader: build, generate_assignment, validate, autograde with our
judge, the gradebook, generate_feedback; and the same scores as `grade --file`."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest

from grader import catalog, notebooks
from grader.sandbox import bubblewrap_problem

from .conftest import run_grade, with_override
from .variants.ex03_gather_nll import WRONG

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook

pytestmark = pytest.mark.xdist_group("nbgrader")  # one course, built once, for these tests

KATA = catalog.find("ex03")
SEED = 20261122
CHECK_SECONDS = 1.5  # the hanging notebook costs this per check
TITLES = {check.name: check.title for check in notebooks.checks_of(KATA)}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run nbgrader in the course; its alembic step needs our venv's bin on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


@dataclass
class Submission:
    code: str  # the solution cell
    extra_cell: str = ""  # an unmarked cell after it, if any
    edits_test: bool = False  # the first test cell's code replaced


ENROLLED_ONLY = "enrolled_only"  # a student of the gradebook who handed nothing in


def _submissions(course: Path) -> dict[str, Submission]:
    reference = KATA.solution_path.read_text()
    wrong = with_override("ex03", WRONG["ex03/missing-minus"])
    source_nb = course / "source" / "katas" / f"{KATA.name}.ipynb"
    return {
        "reference": Submission(reference),
        "wrong": Submission(wrong),
        "patches_allclose": Submission(
            wrong + "\nimport torch\ntorch.allclose = lambda *a, **k: True\n"
        ),
        "extra_cell": Submission(wrong, extra_cell=reference),
        "input_transformer": Submission(
            wrong + "\ntry:\n    get_ipython().input_transformers_post.append(lambda lines: [])\n"
            "except NameError:\n    pass\n"
        ),
        "reads_source": Submission(
            wrong
            + "\nimport json\ntry:\n"
            + f"    _nb = json.load(open({str(source_nb)!r}))\n"
            + "    exec(''.join(_nb['cells'][1]['source']).split('### BEGIN SOLUTION')[1]"
            + ".split('### END SOLUTION')[0])\n"
            + "except OSError:\n    pass\n"
        ),
        "warns": Submission(
            reference.replace(
                "def nll_loss",
                "import sys\nimport warnings\n\nwarnings.warn('a deprecation')\n"
                "print('noise on stderr', file=sys.stderr)\n\n\ndef nll_loss",
            )
        ),
        "exits": Submission("import os\n\nos._exit(0)\n" + reference),
        "hangs": Submission("while True:\n    pass\n" + reference),
        "edits_test": Submission(reference, edits_test=True),
    }


def submit(
    course: Path,
    kata: catalog.Kata,
    student: str,
    code: str,
    extra_cell: str = "",
    edits_test: bool = False,
) -> None:
    """A student's notebook in submitted/: the release with `code` in its solution cell."""
    release = json.loads((course / "release" / "katas" / f"{kata.name}.ipynb").read_text())
    nb = copy.deepcopy(release)
    cells = nb["cells"]
    at = next(
        i
        for i, cell in enumerate(cells)
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == notebooks.SOLUTION_ID
    )
    cells[at]["source"] = code
    if edits_test:
        test = next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade"))
        test["source"] = "pass  # the test, as the student would like it\n"
    if extra_cell:
        extra = {"cell_type": "code", "id": "extra", "metadata": {}, "outputs": []}
        cells.insert(at + 1, {**extra, "execution_count": None, "source": extra_cell})
    folder = course / "submitted" / student / "katas"
    folder.mkdir(parents=True)
    (folder / f"{kata.name}.ipynb").write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course of ex03 taken from build to feedback, once for all the tests here."""
    course = tmp_path_factory.mktemp("course")
    built = run_grade("nbgrader", "build", str(course), "--katas", "ex03")
    assert built.returncode == 0, built.stderr
    nbgrader(course, "generate_assignment", "katas")
    submissions = _submissions(course)
    for student, submission in submissions.items():
        nbgrader(course, "db", "student", "add", student)
        submit(course, KATA, student, *astuple(submission))
    nbgrader(course, "db", "student", "add", ENROLLED_ONLY)
    graded = nbgrader(
        course,
        "autograde",
        "katas",
        f"--JudgeSolutions.seed={SEED}",
        f"--JudgeSolutions.check_seconds={CHECK_SECONDS}",
    )
    (course / "autograde.log").write_text(graded.stdout + graded.stderr)
    nbgrader(course, "generate_feedback", "katas")
    return course


def _grades(course: Path, student: str) -> dict[str, tuple[float | None, bool]]:
    """The gradebook's (auto score, needs manual grade) of each check cell."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(KATA.name, "katas", student)
        return {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades}


def _score(course: Path, student: str) -> float:
    grades = _grades(course, student)
    assert not any(manual for _, manual in grades.values()), f"{student}: left for manual grading"
    return sum(score for score, _ in grades.values())


def _failed(course: Path, student: str) -> set[str]:
    return {name for name, (score, _) in _grades(course, student).items() if not score}


def _feedback(course: Path, student: str) -> str:
    return (course / "feedback" / student / "katas" / f"{KATA.name}.html").read_text()


def test_source_validates_and_release_fails_every_check(course: Path) -> None:
    source = nbgrader(course, "validate", f"source/katas/{KATA.name}.ipynb")
    assert "Success!" in source.stdout, f"the source notebook fails its checks:\n{source.stdout}"
    release = nbgrader(course, "validate", "--invert", f"release/katas/{KATA.name}.ipynb")
    assert "Success!" in release.stdout, f"a check passes on the stub:\n{release.stdout}"


def test_release_shows_the_stub_and_no_hidden_tests(course: Path) -> None:
    text = (course / "release" / "katas" / f"{KATA.name}.ipynb").read_text()
    release = json.loads(text)
    _, stub_code = notebooks.docstring_and_code(KATA.stub_text())
    assert notebooks.solution_code(release).strip() == stub_code.strip(), "release != stub"
    for leak in ("BEGIN HIDDEN TESTS", "run_check", "BEGIN SOLUTION", "def _reduce"):
        assert leak not in text, f"the release shows {leak!r}"


def test_reference_gets_full_marks(course: Path) -> None:
    assert _score(course, "reference") == KATA.points


def test_wrong_answer_loses_exactly_the_checks_it_fails(course: Path) -> None:
    assert _failed(course, "wrong") == {
        "test_nll_loss_picks_the_target",
        "test_nll_loss_mean_and_sum",
    }


@pytest.mark.parametrize(
    "student", ["patches_allclose", "extra_cell", "input_transformer", "reads_source"]
)
def test_tampering_does_not_raise_the_score(course: Path, student: str) -> None:
    if student == "reads_source" and bubblewrap_problem() is not None:
        pytest.skip("only the sandbox hides the course's source/ folder")
    # no higher than the wrong answer it carries (a change to torch or an exec costs more)
    assert _score(course, student) <= _score(course, "wrong"), f"{student} was inflated"


def test_warnings_on_stderr_do_not_cost_points(course: Path) -> None:
    assert _score(course, "warns") == KATA.points


@pytest.mark.parametrize(
    ("student", "reason"),
    [("exits", "ended its process without answering"), ("hangs", "did not finish within")],
)
def test_exit_or_hang_is_an_explicit_zero_with_a_reason(
    course: Path, student: str, reason: str
) -> None:
    assert _score(course, student) == 0
    assert reason in _feedback(course, student), f"the feedback does not say why ({reason})"


def test_feedback_has_our_diagnosis_and_no_hidden_source(course: Path) -> None:
    html = _feedback(course, "wrong")
    assert "got -" in html and "expected" in html, "the diagnosis is missing from the feedback"
    for leak in ("BEGIN HIDDEN TESTS", "run_check", "def test_"):
        assert leak not in html, f"the feedback shows hidden test source ({leak!r})"


@pytest.mark.parametrize("student", ["reference", "wrong", "warns", "exits"])
def test_same_scores_as_grade_file(course: Path, student: str, tmp_path: Path) -> None:
    nb = json.loads((course / "submitted" / student / "katas" / f"{KATA.name}.ipynb").read_text())
    path = tmp_path / f"{KATA.name}.py"
    path.write_text(notebooks.solution_code(nb))
    done = run_grade(
        "ex03", "--file", str(path), "--json", "--seed", str(SEED),
        "--time-limit", str(CHECK_SECONDS),
    )  # fmt: skip
    graded = json.loads(done.stdout)
    by_title = {t["name"]: t["score"] for t in graded["tests"]}
    grades = _grades(course, student)
    through_nbgrader = {TITLES[name]: score for name, (score, _) in grades.items()}
    assert through_nbgrader == by_title, f"{student}: nbgrader and grade --file disagree"


def test_autograde_warns_of_changed_test_cells_only(course: Path) -> None:
    """nbgrader's own autograde says "Attribute 'checksum' ... has changed!" for every hidden
    test cell, untouched or not; ours says nothing of those, and names the one changed."""
    log = (course / "autograde.log").read_text()
    assert "has changed" not in log, "a checksum warning for an untouched cell"
    first = notebooks.checks_of(KATA)[0].name
    changed = [line for line in log.splitlines() if "changed the locked cell" in line]
    assert len(changed) == 1 and f"edits_test changed the locked cell {first}" in changed[0]
    assert _score(course, "edits_test") == KATA.points, "graded with the course's test cell"


def test_feedback_names_each_check_and_wraps_its_verdict(course: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Chromium (apt-get install chromium)")
    page_path = course / "feedback" / "wrong" / "katas" / f"{KATA.name}.html"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.goto(page_path.as_uri())
        contents = page.eval_on_selector_all("#toc a", "els => els.map(e => e.textContent)")
        wide = page.eval_on_selector_all(
            "div.output_area pre", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".map(e => e.textContent)",
        )  # fmt: skip
        outputs = page.eval_on_selector_all("div.output_area pre", "els => els.length")
        browser.close()
    tests = [name for name in contents if name != "Comment"]  # a comment on the solution
    assert tests == list(TITLES.values()), "the contents do not name the checks"
    assert outputs >= len(TITLES), "the verdicts are not on the page"
    assert wide == [], "a verdict scrolls out of sight"


def test_batch_grades_the_course_like_autograde(course: Path) -> None:
    before = {student: _grades(course, student) for student in ("reference", "wrong", "exits")}
    done = run_grade("batch", str(course), "--seed", str(SEED), "--time-limit", str(CHECK_SECONDS))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scores written to" in done.stdout
    after = {student: _grades(course, student) for student in before}
    assert after == before, "grade batch and nbgrader autograde disagree"
    out = course / "grades"  # a course's grades go in it
    with (out / "scores.csv").open() as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == {*_submissions(course), ENROLLED_ONLY}
    assert {r["assignment"] for r in rows.values()} == {"katas"}
    assert rows[ENROLLED_ONLY]["status"] == "missing", "a gradebook's student has a row"
    assert (out / "report.html").is_file() and (out / "feedback" / "wrong.html").is_file()
    assert "nbgrader autograde $a && nbgrader generate_feedback $a" in done.stdout


def test_batch_adds_a_student_autograde_never_saw(course: Path) -> None:
    """Like autograde (create_student), a submission's student need not be in the gradebook."""
    late = course / "submitted" / "late"
    shutil.copytree(course / "submitted" / "reference", late)
    try:
        done = run_grade(
            "batch", str(course), "--seed", str(SEED), "--time-limit", str(CHECK_SECONDS),
            "--out", str(course.parent / f"{course.name}-late-grades"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert _grades(course, "late") == _grades(course, "reference")
    finally:
        shutil.rmtree(late)


def _broken_notebooks(course: Path, kata: catalog.Kata) -> dict[str, str]:
    """Submissions nbgrader itself would stop at, each beside good ones; what each is."""
    reference = kata.solution_path.read_text()
    broken = {}
    for student, change in {
        "old_schema": "schema",
        "two_solution_cells": "solution",
        "two_test_cells": "test",
        "no_solution_cell": "drop",
        "not_json": "garbage",
    }.items():
        submit(course, kata, student, reference)
        path = course / "submitted" / student / "katas" / f"{kata.name}.ipynb"
        nb = json.loads(path.read_text())
        cells = nb["cells"]
        graded = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
        solution = next(c for c in cells if c["metadata"].get("nbgrader", {}).get("solution"))
        if change == "schema":
            sanity = next(c for c in cells if c["metadata"]["nbgrader"]["grade_id"] == "sanity")
            sanity["metadata"]["nbgrader"]["schema_version"] = 1
        elif change == "solution":
            cells.insert(cells.index(solution) + 1, copy.deepcopy(solution))
        elif change == "test":
            cells.append(copy.deepcopy(graded[0]))
        elif change == "drop":
            cells.remove(solution)
        path.write_text("{not json" if change == "garbage" else json.dumps(nb))
        broken[student] = change
    return broken


def test_broken_notebooks_never_stop_the_class(tmp_path: Path) -> None:
    kata = catalog.find("ex02")
    course = tmp_path / "course"
    built = run_grade("nbgrader", "build", str(course), "--katas", "ex02")
    assert built.returncode == 0, built.stderr
    nbgrader(course, "generate_assignment", "katas")
    submit(course, kata, "aaa_first", kata.solution_path.read_text())
    broken = _broken_notebooks(course, kata)
    submit(course, kata, "zzz_last", kata.solution_path.read_text())
    for student in ("aaa_first", *broken, "zzz_last"):
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "autograde", "katas", f"--JudgeSolutions.seed={SEED}")  # exit 0 asserted
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        score = {
            s: gb.find_submission_notebook(kata.name, "katas", s).score
            for s in ("aaa_first", *broken, "zzz_last")
        }
    assert score["aaa_first"] == score["zzz_last"] == kata.points, score
    # two solution cells run as a kernel would: the second one's code wins; the rest score 0
    assert score["two_solution_cells"] == score["two_test_cells"] == kata.points, score
    assert score["old_schema"] == kata.points, "another schema version only in a sanity cell"
    for student in ("no_solution_cell", "not_json"):
        assert score[student] == 0, score
        graded = course / "autograded" / student / "katas" / f"{kata.name}.ipynb"
        text = graded.read_text()
        reason = "not a readable notebook" if student == "not_json" else "no solution cell"
        assert reason in text, f"{student}: the autograded notebook does not say why"
