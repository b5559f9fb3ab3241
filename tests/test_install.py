"""The package as a learner installs it: a wheel in a fresh venv outside the repository, a
workspace made by `grade init`, notebooks given to --file, and stubs that are always pristine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grader import catalog
from grader.workspace import MARKER

from .conftest import ROOT, grade

KATA = catalog.find("ex02")
pytestmark = pytest.mark.xdist_group("install")  # one wheel, built once (conftest.installed)


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KATAS_STATE_DIR")}
    return subprocess.run(
        [venv / "bin" / "grade", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "NO_COLOR": "1"},
    )


def test_the_installed_grader_is_the_wheel_not_this_checkout(installed: Path, tmp_path: Path):
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import grader; print(grader.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed) in where and str(ROOT) not in where


def test_a_workspace_made_anywhere_grades_its_stubs_and_their_solutions(installed, tmp_path):
    outside = run(installed, "ex02", cwd=tmp_path)
    assert outside.returncode == 2 and "grade init" in outside.stderr
    assert len(outside.stderr.strip().splitlines()) == 1, "one line, not a traceback"
    made = run(installed, "init", "ws", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ws = tmp_path / "ws"
    assert (ws / MARKER).is_file() and (ws / "README.md").is_file()
    stub = run(installed, "ex02", "--json", cwd=ws / "exercises")  # found from below, too
    assert stub.returncode == 1 and json.loads(stub.stdout)["score"] == 0, stub.stderr
    shutil.copy(KATA.solution_path, ws / "exercises" / KATA.filename)
    solved = run(installed, "ex02", cwd=ws)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    listed = json.loads(run(installed, "list", "--json", cwd=ws).stdout)
    assert next(k for k in listed["katas"] if k["id"] == "ex02")["status"] == "passed"


def test_init_refuses_a_full_directory_and_backs_up_over_it(installed, tmp_path):
    (tmp_path / "mine").mkdir()
    mine = tmp_path / "mine" / "exercises" / KATA.filename
    mine.parent.mkdir()
    mine.write_text("# my work\n")
    refused = run(installed, "init", "mine", cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert mine.read_text() == "# my work\n"
    forced = run(installed, "init", "mine", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    backups = list((tmp_path / "mine" / ".grade" / "backups").glob("ex02_*.py"))
    assert [b.read_text() for b in backups] == ["# my work\n"]


def test_a_workspace_of_another_version_says_so(installed, tmp_path):
    assert run(installed, "init", "old", cwd=tmp_path).returncode == 0
    marker = tmp_path / "old" / MARKER
    text = marker.read_text().replace('version = "', 'version = "0.0.1-was-')
    marker.write_text(text.replace(f'{KATA.id} = "', f'{KATA.id} = "0ld'))
    listed = run(installed, "list", cwd=tmp_path / "old")
    assert "this workspace was made by torch-katas 0.0.1-was-" in listed.stderr
    assert KATA.id in listed.stderr


def _notebook(cells: list[dict]) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _cell(source: str, grade_id: str | None = None) -> dict:
    meta = {"nbgrader": {"grade_id": grade_id, "solution": True}} if grade_id else {}
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": []}


def test_file_takes_a_notebook(installed, tmp_path):
    reference = KATA.solution_path.read_text()
    half = len(reference.splitlines()) // 2
    first, second = (
        "\n".join(reference.splitlines()[:half]),
        "\n".join(reference.splitlines()[half:]),
    )
    nbgrader = tmp_path / "nbgrader.ipynb"
    nbgrader.write_text(_notebook([_cell("raise SystemExit"), _cell(reference, "solution")]))
    done = run(installed, "ex02", "--file", str(nbgrader), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout  # only the solution cell is graded
    plain = tmp_path / "plain.ipynb"
    plain.write_text(
        _notebook([_cell(first), {"cell_type": "markdown", "source": "x"}, _cell(second)])
    )
    done = run(installed, "ex02", "--file", str(plain), "--json", cwd=tmp_path)
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and "code cells of the notebook" in doc["output"], doc["output"]
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    done = run(installed, "ex02", "--file", str(broken), cwd=tmp_path)
    assert done.returncode == 2 and "not a Jupyter notebook" in done.stderr


def test_stubs_come_from_the_pristine_copy_never_the_working_tree(repo, tmp_path):
    solved = repo / "exercises" / KATA.filename
    solved.write_text(KATA.solution_path.read_text())  # an instructor solved it here
    course = tmp_path / "course"
    assert grade(repo, "nbgrader", "build", str(course), "--katas", "ex02").returncode == 0
    source = json.loads((course / "source" / "katas" / f"{KATA.name}.ipynb").read_text())
    solution_cell = next(c for c in source["cells"] if "BEGIN SOLUTION" in "".join(c["source"]))
    stub_part = "".join(solution_cell["source"]).split("### BEGIN SOLUTION")[0]
    assert "x - x.mean(dim=1)" in stub_part, "the stub's bug is what students get"
    assert grade(repo, "reset", "ex02", "--yes").returncode == 0
    assert solved.read_text() == KATA.stub_text()
