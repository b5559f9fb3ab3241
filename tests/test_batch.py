"""`grade batch`: a class of file submissions, graded, reported, resumed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grader import catalog

from .conftest import run_grade, with_override
from .variants.ex03_gather_nll import WRONG

pytestmark = pytest.mark.xdist_group("batch")  # one class, graded once, for these tests

SEED = 4242
TIME_LIMIT = "1.5"


def _class(root: Path) -> dict[tuple[str, str], str]:
    """Four students' files: the code of each (student, kata)."""
    ex03, ex09 = catalog.find("ex03"), catalog.find("ex09")
    work = {
        ("ada", ex03.name): ex03.solution_path.read_text(),
        ("ada", ex09.name): ex09.solution_path.read_text(),
        ("bo", ex03.name): with_override("ex03", WRONG["ex03/missing-minus"]),
        ("bo", ex09.name): ex09.stub_text(),
        ("cy", ex03.name): "import os\n\nos._exit(3)\n",
        ("dee", ex03.name): "while True:\n    pass\n",
    }
    for (student, kata), code in work.items():
        (root / student).mkdir(parents=True, exist_ok=True)
        (root / student / f"{kata}.py").write_text(code)
    (root / "dee" / "notes.txt").write_text("not a kata: ignored")
    return work


def _batch(root: Path, out: Path) -> str:
    done = run_grade(
        "batch", str(root), "--out", str(out), "--seed", str(SEED), "--time-limit", TIME_LIMIT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, str]:
    root = tmp_path_factory.mktemp("class")
    out = root.parent / f"{root.name}-grades"
    work = _class(root)
    return root, out, work, _batch(root, out)


def _rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (out / "scores.csv").open() as f:
        return {(r["student"], r["kata"]): r for r in csv.DictReader(f)}


def test_csv_has_a_row_per_submission_with_its_status(graded) -> None:
    _, out, work, _ = graded
    rows = _rows(out)
    assert set(rows) == set(work), "the CSV's rows differ from the kata files submitted"
    status = {key: row["status"] for key, row in rows.items()}
    assert status[("ada", "ex03_gather_nll")] == "passed"
    assert status[("ada", "ex09_stable_softmax")] == "passed"
    assert status[("bo", "ex03_gather_nll")] == "partial"
    assert status[("bo", "ex09_stable_softmax")] == "failed"
    assert status[("cy", "ex03_gather_nll")] == "failed", "a crash scores 0"
    assert status[("dee", "ex03_gather_nll")] == "failed", "a hang scores 0"
    assert float(rows[("bo", "ex03_gather_nll")]["score"]) == 7.0


def test_one_json_per_student(graded) -> None:
    _, out, work, _ = graded
    for student in {s for s, _ in work}:
        docs = json.loads((out / f"{student}.json").read_text())
        assert {d["extra_data"]["kata"] for d in docs} == {k for s, k in work if s == student}


def test_a_hang_costs_only_its_own_checks(graded) -> None:
    _, out, _, _ = graded
    dee = json.loads((out / "dee.json").read_text())[0]
    assert all("did not finish within" in t["output"] for t in dee["tests"])


def test_same_scores_as_grade_file(graded) -> None:
    root, out, _, _ = graded
    for student, kata in (("bo", "ex03_gather_nll"), ("cy", "ex03_gather_nll")):
        path = root / student / f"{kata}.py"
        done = run_grade(kata, "--file", str(path), "--json", "--seed", str(SEED))
        alone = json.loads(done.stdout)
        batch = next(
            d for d in json.loads((out / f"{student}.json").read_text())
            if d["extra_data"]["kata"] == kata
        )  # fmt: skip
        assert [t["score"] for t in batch["tests"]] == [t["score"] for t in alone["tests"]]


def test_a_second_run_resumes_and_regrades_only_changed_files(graded) -> None:
    root, out, _, _ = graded
    again = _batch(root, out)
    assert "resuming: 6 of 6 already graded" in again
    fixed = root / "bo" / "ex09_stable_softmax.py"
    fixed.write_text(catalog.find("ex09").solution_path.read_text())
    third = _batch(root, out)
    assert "resuming: 5 of 6 already graded" in third
    assert _rows(out)[("bo", "ex09_stable_softmax")]["status"] == "passed"


def test_a_directory_without_katas_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "someone").mkdir()
    done = run_grade("batch", str(tmp_path))
    assert done.returncode == 2
    assert "no kata files" in done.stderr
