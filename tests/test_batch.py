"""`grade batch`: a class of file submissions, graded, reported, resumed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grader import catalog
from grader.classroom.batch import Job, _chunks

from .conftest import run_grade, with_override
from .variants.ex03_gather_nll import WRONG

pytestmark = pytest.mark.xdist_group("batch")  # one class, graded once, for these tests

SEED = 4242
TIME_LIMIT = "1.5"


EX03, EX09 = catalog.find("ex03"), catalog.find("ex09")
SKIPPED = {  # what the class below holds that is not graded, and a word of the reason
    "dee/notes.txt": "not a .py file",
    "eve/notes.py": "not named after a kata",
    "solo_ex03.py": "not in a student's folder",
    "eve/ex03.py, eve/ex03_gather_nll.py": "2 files for ex03_gather_nll",
}


def _class(root: Path) -> dict[tuple[str, str], str]:
    """Six students' files: the code of each (student, kata) that is graded. eve's ex09 is
    named Ex09.PY; she also has two files for ex03, a notes.py, and there is a file outside
    every student's folder."""
    work = {
        ("ada", EX03.name): EX03.solution_path.read_text(),
        ("ada", EX09.name): EX09.solution_path.read_text(),
        ("bo", EX03.name): with_override("ex03", WRONG["ex03/missing-minus"]),
        ("bo", EX09.name): EX09.stub_text(),
        ("cy", EX03.name): "import os\n\nos._exit(3)\n",
        ("dee", EX03.name): "while True:\n    pass\n",
        ("eve", EX09.name): EX09.solution_path.read_text(),
    }
    for (student, kata), code in work.items():
        (root / student).mkdir(parents=True, exist_ok=True)
        name = "Ex09.PY" if student == "eve" else f"{kata}.py"
        (root / student / name).write_text(code)
    (root / "dee" / "notes.txt").write_text("not a kata")
    (root / "eve" / "notes.py").write_text("x = 1\n")
    (root / "eve" / "ex03.py").write_text(EX03.solution_path.read_text())
    (root / "eve" / f"{EX03.name}.py").write_text(EX03.stub_text())
    (root / "solo_ex03.py").write_text(EX03.solution_path.read_text())
    # fay hands in a plain notebook: its code cells are graded, as `grade --file` grades them
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    code = EX09.solution_path.read_text()
    notebook = {"cells": [{**cell, "source": code}], "metadata": {}, "nbformat": 4}
    (root / "fay").mkdir()
    (root / "fay" / f"{EX09.name}.ipynb").write_text(json.dumps({**notebook, "nbformat_minor": 5}))
    work[("fay", EX09.name)] = code
    return work


def _batch(root: Path, out: Path, *more: str) -> str:
    done = run_grade(
        "batch", str(root), "--out", str(out), "--seed", str(SEED), "--time-limit", TIME_LIMIT,
        *more,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, str]:
    root = tmp_path_factory.mktemp("class")
    out = root.parent / f"{root.name}-grades"
    work = _class(root)
    return root, out, work, _batch(root, out)


def _csv(out: Path) -> list[dict[str, str]]:
    with (out / "scores.csv").open() as f:
        return list(csv.DictReader(f))


def _rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["student"], r["kata"]): r for r in _csv(out)}


def test_csv_has_one_row_per_student_and_kata_with_its_status(graded) -> None:
    _, out, work, _ = graded
    table = _csv(out)
    assert list(table[0]) == [
        "student", "assignment", "kata", "score", "max_score", "status", "message",
    ]  # fmt: skip
    students = {student for student, _ in work}
    pairs = [(r["student"], r["kata"]) for r in table]
    assert sorted(pairs) == sorted((s, k) for s in students for k in (EX03.name, EX09.name))
    status = {key: row["status"] for key, row in _rows(out).items()}
    assert status[("ada", EX03.name)] == "passed"
    assert status[("ada", EX09.name)] == "passed"
    assert status[("bo", EX03.name)] == "partial"
    assert status[("bo", EX09.name)] == "failed"
    assert status[("cy", EX03.name)] == "failed", "a crash scores 0"
    assert status[("dee", EX03.name)] == "failed", "a hang scores 0"
    assert status[("eve", EX09.name)] == "passed", "Ex09.PY is ex09's file"
    assert status[("fay", EX09.name)] == "passed", "a notebook's code cells are graded"
    assert status[("cy", EX09.name)] == status[("dee", EX09.name)] == "missing"
    assert float(_rows(out)[("bo", EX03.name)]["score"]) == 7.0
    assert {r["assignment"] for r in table} == {""}, "a folder of files has no assignment"


def test_two_files_for_one_kata_are_neither_graded(graded) -> None:
    _, out, _, _ = graded
    row = _rows(out)[("eve", EX03.name)]
    assert row["status"] == "ambiguous"
    assert float(row["score"]) == 0 and float(row["max_score"]) == EX03.points
    assert "ex03.py" in row["message"] and f"{EX03.name}.py" in row["message"]
    docs = json.loads((out / "eve.json").read_text())
    assert [d["extra_data"]["kata"] for d in docs] == [EX09.name], "one of the two was graded"


def test_every_file_not_graded_is_listed_with_why(graded) -> None:
    _, out, _, said = graded
    listed = (out / "skipped.txt").read_text().splitlines()
    assert len(listed) == len(SKIPPED), listed
    for path, why in SKIPPED.items():
        line = next((line for line in listed if line.startswith(f"{path}:")), None)
        assert line is not None and why in line, f"{path} is not listed as {why!r}: {listed}"
        assert line in said, f"stderr does not say {line!r}"


def test_results_go_beside_a_folder_of_files(graded) -> None:
    root, out, _, _ = graded
    assert out.parent == root.parent
    assert (out / "report.html").is_file()
    assert {p.name for p in (out / "feedback").iterdir()} == {
        f"{s}.html" for s in ("ada", "bo", "cy", "dee", "eve", "fay")
    }


def test_the_terminal_summary_names_the_trouble(graded) -> None:
    *_, said = graded
    assert "Class of 6 students" in said
    assert f"crashed in {EX03.name}: cy" in said
    assert f"hung in {EX03.name}: dee" in said
    assert f"missing in {EX09.name}: cy, dee" in said
    assert f"missing in {EX03.name}: fay" in said
    assert "ex03/missing-minus: 1 student (bo)" in said


def test_one_json_per_student(graded) -> None:
    _, out, work, _ = graded
    for student in {s for s, _ in work}:
        docs = json.loads((out / f"{student}.json").read_text())
        assert {d["extra_data"]["kata"] for d in docs} == {k for s, k in work if s == student}


def test_a_hang_costs_only_its_own_checks(graded) -> None:
    _, out, _, _ = graded
    dee = json.loads((out / "dee.json").read_text())[0]
    assert "did not finish within" in dee["output"], "the hang is said once, at the top"
    assert all(t["score"] == 0 for t in dee["tests"])


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
    assert "resuming: 8 of 8 already graded" in again
    fixed = root / "bo" / "ex09_stable_softmax.py"
    fixed.write_text(catalog.find("ex09").solution_path.read_text())
    third = _batch(root, out)
    assert "resuming: 7 of 8 already graded" in third
    assert _rows(out)[("bo", "ex09_stable_softmax")]["status"] == "passed"


def test_katas_names_the_class_katas(graded, tmp_path: Path) -> None:
    """--katas: other katas' files are skipped, and a kata nobody handed in is 'missing'."""
    root = graded[0]
    said = _batch(root, tmp_path / "grades", "--katas", "ex03,ex05")
    pairs = [(r["student"], r["kata"], r["status"]) for r in _csv(tmp_path / "grades")]
    assert {kata for _, kata, _ in pairs} == {EX03.name, catalog.find("ex05").name}
    assert len(pairs) == 6 * 2
    assert ("ada", "ex05_manual_sgd", "missing") in pairs
    assert "eve/Ex09.PY: ex09 is not one of --katas" in said


def test_a_directory_without_katas_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "someone").mkdir()
    done = run_grade("batch", str(tmp_path))
    assert done.returncode == 2
    assert "no kata files" in done.stderr


def test_katas_that_wait_for_the_preload_are_graded_last() -> None:
    """Runs of a kata with worker imports wait for the worker's preload (seconds): the other
    katas' chunks go first, so that the grading processes are busy meanwhile."""
    ex04, ex05 = catalog.find("ex04"), catalog.find("ex05")
    assert ex04.worker_imports and not ex05.worker_imports, "the registry's premise"
    students = [f"s{i}" for i in range(8)]
    jobs = [Job(s, k.name, Path(f"{s}/{k.name}.py")) for s in students for k in (ex04, ex05)]
    chunks = _chunks(jobs, processes=2)
    order = [chunk[0].kata for chunk in chunks]
    assert order == sorted(order, key=lambda name: name == ex04.name), f"chunks in order {order}"
    graded = [job for chunk in chunks for job in chunk]
    assert len(graded) == len(jobs) and set(graded) == set(jobs), "every job, once"
