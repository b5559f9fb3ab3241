"""The Gradescope autograder as Gradescope runs it: the zip that `grade gradescope build` writes
for an installed package, its own wheel installed in a fresh venv (the one setup.sh makes, with
our dependencies instead of downloads), and its real run_autograder grading uploads in a
simulated /autograder (AUTOGRADER_ROOT) into a results.json checked against Gradescope's
documented format."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from grader import catalog
from grader.classroom.course import kata_notebook
from grader.classroom.gradescope import match
from grader.notebooks import SOLUTION_ID, checks_of

from .conftest import run_grade, venv_with, with_override
from .variants.ex02_fix_broadcasting import WRONG

pytestmark = pytest.mark.xdist_group("install")  # the installed package: built once
KATAS = catalog.select("ex01-ex03")
POINTS = sum(check.points for kata in KATAS for check in checks_of(kata))
BUNDLE_FILES = {"setup.sh", "run_autograder", "torch-katas.json", "constraints.txt"}

# -- results.json as Gradescope's autograder specification documents it ---------------------

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMAT = {"text", "simple_format", "html", "md", "ansi"}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _of(kind: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, kind)


def _one_of(options: set[str]) -> Callable[[object], bool]:
    return lambda value: value in options


TOP_FIELDS = {
    "score": _number,
    "execution_time": _number,
    "output": _of(str),
    "output_format": _one_of(FORMAT),
    "test_output_format": _one_of(FORMAT),
    "test_name_format": _one_of(FORMAT),
    "visibility": _one_of(VISIBILITY),
    "stdout_visibility": _one_of(VISIBILITY),
    "extra_data": _of(dict),
    "tests": _of(list),
    "leaderboard": _of(list),
}
TEST_FIELDS = {
    "score": _number,
    "max_score": _number,
    "status": _one_of({"passed", "failed"}),
    "name": _of(str),
    "name_format": _one_of(FORMAT),
    "number": _of(str),
    "output": _of(str),
    "output_format": _one_of(FORMAT),
    "tags": lambda value: isinstance(value, list) and all(isinstance(t, str) for t in value),
    "visibility": _one_of(VISIBILITY),
    "extra_data": _of(dict),
}


def _fields(item: dict[str, Any], schema: dict[str, Callable[[object], bool]], where: str) -> None:
    unknown = set(item) - set(schema)
    assert not unknown, f"{where}: fields Gradescope does not know: {sorted(unknown)}"
    for key, value in item.items():
        assert schema[key](value), f"{where}: {key} = {value!r}"


def assert_gradescope_results(doc: object) -> None:
    assert isinstance(doc, dict)
    _fields(doc, TOP_FIELDS, "results.json")
    assert doc.get("tests"), "no tests: Gradescope would show 'autograder failed'"
    numbers = [test.get("number") for test in doc["tests"] if "number" in test]
    assert len(numbers) == len(set(numbers)), "test numbers repeat"
    for index, test in enumerate(doc["tests"]):
        _fields(test, TEST_FIELDS, f"tests[{index}]")
        assert "score" in doc or "score" in test, "a score at the top or on every test"
        if "score" in test and "max_score" in test:
            assert 0 <= test["score"] <= test["max_score"]
            full = test["score"] == test["max_score"]
            assert test.get("status", "passed" if full else "failed") == (
                "passed" if full else "failed"
            ), test


def test_the_format_check_refuses_what_gradescope_would_not_take():
    good = {"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1, "status": "passed"}]}
    assert_gradescope_results(good)
    wrong_status = [{**good["tests"][0], "status": "failed"}]
    for bad in (
        {**good, "tests": []},
        {**good, "max_score": 1},  # not a field of Gradescope's (`grade --json` has it)
        {**good, "visibility": "after_grading"},
        {**good, "tests": wrong_status},
        {"tests": [{"name": "a", "max_score": 1}]},  # no score anywhere
    ):
        with pytest.raises(AssertionError):
            assert_gradescope_results(bad)


# -- the autograder, built and installed ----------------------------------------------------


@pytest.fixture(scope="module")
def bundle(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip as an instructor who installed the package builds it (its files packed again)."""
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    command = ["gradescope", "build", "--katas", "ex01-ex03", "--visibility", "after_due_date"]
    done = subprocess.run(
        [installed / "bin" / "grade", *command, "-o", str(out)],
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 katas" in done.stdout and out.is_file()
    return out


def _wheel_names(bundle: Path) -> set[str]:
    with zipfile.ZipFile(bundle) as outer:
        name = next(n for n in outer.namelist() if n.endswith(".whl"))
        with zipfile.ZipFile(outer.open(name)) as wheel:
            return set(wheel.namelist())


@pytest.fixture(scope="module")
def grader_home(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TORCH_KATAS_HOME: the venv setup.sh makes, with the zip's own wheel in it."""
    where = tmp_path_factory.mktemp("home")
    with zipfile.ZipFile(bundle) as outer:
        name = next(n for n in outer.namelist() if n.endswith(".whl"))
        wheel = Path(outer.extract(name, where))
    return venv_with(wheel, where / "venv")


Upload = dict[str, str | bytes]  # a path in the submission -> its content


@pytest.fixture
def autograder(
    bundle: Path, grader_home: Path, tmp_path: Path
) -> Callable[..., tuple[dict[str, Any], str]]:
    """Run the real run_autograder on an upload, in a fresh /autograder of its own; returns the
    checked results.json and what the run printed (Gradescope's stdout, for instructors)."""

    def run(upload: Upload, **env: str) -> tuple[dict[str, Any], str]:
        root = tmp_path / "autograder"
        source = root / "source"  # Gradescope unzips the bundle here, modes kept
        with zipfile.ZipFile(bundle) as outer:
            for entry in outer.infolist():
                Path(outer.extract(entry, source)).chmod(entry.external_attr >> 16 & 0o777)
        (root / "run_autograder").write_bytes((source / "run_autograder").read_bytes())
        (root / "run_autograder").chmod(0o755)  # where Gradescope copies it
        (root / "results").mkdir()
        (root / "submission").mkdir()
        for name, content in upload.items():
            path = root / "submission" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        ours = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KATAS_SANDBOX")}
        done = subprocess.run(
            [root / "run_autograder"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                **ours,
                "AUTOGRADER_ROOT": str(root),
                "TORCH_KATAS_HOME": str(grader_home),
                **env,
            },
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        doc = json.loads((root / "results" / "results.json").read_text())
        assert_gradescope_results(doc)
        return doc, done.stdout

    return run


def _by_kata(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tests: dict[str, list[dict[str, Any]]] = {}
    for test in doc["tests"]:
        tests.setdefault(test["name"].split(" · ")[0], []).append(test)
    return tests


def _reference(kata: str) -> str:
    return catalog.find(kata).solution_path.read_text()


def _notebook(cells: list[dict[str, Any]]) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _code(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": []}


# -- the tests ------------------------------------------------------------------------------


def test_references_get_full_marks_under_any_name_folder_or_format(autograder):
    lines = _reference("ex03").splitlines(keepends=True)
    half = len(lines) // 2
    notebook = _notebook(
        [_code("".join(lines[:half])), {"cell_type": "markdown", "source": "mine"}]
        + [_code("".join(lines[half:]))]
    )
    doc, printed = autograder(
        {
            "ex01_affine_params.py": _reference("ex01"),
            "work/EX02_Fix_Broadcasting.PY": _reference("ex02"),
            "ex03_gather_nll.ipynb": notebook,
            "notes.txt": "my notes",
            ".ipynb_checkpoints/ex03_gather_nll-checkpoint.ipynb": "{}",
        }
    )
    assert doc["score"] == POINTS == doc["extra_data"]["max_score"], doc["output"]
    expected = [f"{kata.id} · {check.title}" for kata in KATAS for check in checks_of(kata)]
    assert [test["name"] for test in doc["tests"]] == expected, "one test per check, in order"
    assert all(test["status"] == "passed" for test in doc["tests"])
    assert {test["visibility"] for test in doc["tests"]} == {"after_due_date"}
    assert doc["stdout_visibility"] == "hidden" and doc["output_format"] == "simple_format"
    output = doc["output"]
    assert "graded work/EX02_Fix_Broadcasting.PY for ex02_fix_broadcasting" in output
    assert "matched ignoring case" in output and "code cells of the notebook" in output
    assert "Ignored, no kata of this assignment: notes.txt\n" in output, "checkpoints unsaid"
    assert "Sandbox: " in output and f"{POINTS:g}/{POINTS:g} points" in printed


def test_a_stub_a_wrong_answer_and_a_notebook_without_its_solution_cell(autograder):
    ex03 = catalog.find("ex03")
    course_notebook = kata_notebook(ex03)
    course_notebook["cells"] = [
        cell
        for cell in course_notebook["cells"]
        if cell["metadata"]["nbgrader"]["grade_id"] != SOLUTION_ID
    ]
    doc, _ = autograder(
        {
            "ex01_affine_params.py": catalog.find("ex01").stub_text(),
            "ex02_fix_broadcasting.py": with_override("ex02", WRONG["ex02/missing-keepdim"]),
            "ex03_gather_nll.ipynb": json.dumps(course_notebook),
        },
        KATAS_SANDBOX="none",
    )
    tests = _by_kata(doc)
    assert [t["score"] for t in tests["ex01"]] == [0] * len(tests["ex01"])
    assert all("not implemented yet" in t["output"] for t in tests["ex01"])
    wrong = [t for t in tests["ex02"] if t["status"] == "failed"]
    assert [t["tags"] for t in wrong] == [["ex02/missing-keepdim"]], "diagnosed, only there"
    assert "keepdim" in wrong[0]["output"]
    assert 0 < doc["score"] == sum(t["score"] for t in tests["ex02"]) < ex03.points
    assert all(t["status"] == "failed" for t in tests["ex03"])
    assert (
        "ex03_gather_nll.ipynb is a course (nbgrader) notebook without its solution cell"
        in (doc["output"])
    )
    assert "Sandbox: unsandboxed (disabled by KATAS_SANDBOX=none)" in doc["output"]


def test_an_empty_submission_fails_every_check_and_says_what_to_upload(autograder):
    doc, _ = autograder({})
    assert doc["score"] == 0 and len(doc["tests"]) == len({t["number"] for t in doc["tests"]})
    assert sum(test["max_score"] for test in doc["tests"]) == POINTS
    assert all(test["status"] == "failed" for test in doc["tests"])
    assert "Nothing was graded" in doc["output"] and "Sandbox" not in doc["output"]
    for kata in KATAS:
        assert f"no file for {kata.id} in your submission: upload {kata.filename}" in doc["output"]


def test_a_kata_is_graded_from_its_best_named_file_and_the_others_are_said(tmp_path):
    for name in ("ex02.py", "ex02_fix_broadcasting.ipynb", "old/ex02_fix_broadcasting.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "ex01_affine_params (1).py").write_text("")  # a browser's second download
    (tmp_path / "ex09_stable_softmax.py").write_text("")  # not in this assignment
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "ex01_affine_params.py").write_text("")
    upload = match(tmp_path, KATAS)
    assert upload.files == {"ex02": tmp_path / "old" / "ex02_fix_broadcasting.py"}
    assert upload.notes["ex02"] == (
        "also uploaded, not graded: ex02_fix_broadcasting.ipynb, ex02.py"
    )
    assert upload.ignored == ["ex01_affine_params (1).py", "ex09_stable_softmax.py"]


def test_the_zip_holds_what_gradescope_runs_and_no_solutions(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as outer:
        names = set(outer.namelist())
        modes = {entry.filename: entry.external_attr >> 16 for entry in outer.infolist()}
        setup = outer.read("setup.sh").decode()
        config = json.loads(outer.read("torch-katas.json"))
        pins = dict(line.split("==") for line in outer.read("constraints.txt").decode().split())
        outer.extractall(tmp_path)
    (wheel,) = names - BUNDLE_FILES
    assert wheel.startswith("torch_katas-") and wheel.endswith(".whl")
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0
    torch_version = torch.__version__.split("+")[0]
    assert pins["torch"] == torch_version and pins["numpy"] and "torch-katas" not in pins
    torch_line = f'install --python "$home/bin/python" "torch=={torch_version}" --index-url '
    torch_line += "https://download.pytorch.org/whl/cpu"
    assert torch_line in setup, "torch pinned, from the CPU index"
    assert setup.index(torch_line) < setup.index(f"--constraint constraints.txt ./{wheel}")
    assert config["katas"] == ["ex01", "ex02", "ex03"] and config["visibility"] == "after_due_date"
    shipped = _wheel_names(bundle)
    assert not [name for name in shipped if name.startswith("grader/references/")]
    assert {"grader/checks/ex02_fix_broadcasting.py", "grader/stubs/ex02_fix_broadcasting.py"} < (
        shipped
    )


def test_a_source_checkout_builds_the_same_package(bundle, tmp_path):
    out = tmp_path / "checkout.zip"
    done = run_grade("gradescope", "build", "--katas", "ex02", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _wheel_names(out) == _wheel_names(bundle)


def test_bad_calls_and_a_broken_set_up_say_what_is_wrong(tmp_path):
    unknown = run_grade("gradescope", "build", "--katas", "ex99", cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.startswith("grade: unknown exercise")
    assert not list(tmp_path.iterdir()), "no zip, no half of one"
    done = run_grade("gradescope", "run", "--root", str(tmp_path))  # no source/torch-katas.json
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_results(doc)
    assert doc["score"] == 0 and "torch-katas.json is not right" in doc["tests"][0]["output"]
