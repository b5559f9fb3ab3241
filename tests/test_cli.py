"""The `grade` command's contract (GRADER.md): names, --file, --json, exit codes, hints."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest

from grader import catalog, cli

from .conftest import ROOT, run_grade

KATA = catalog.find("ex02")
REFERENCE = KATA.solution_path


@pytest.mark.parametrize("name", ["ex02", "2", "ex2", "fix_broadcasting", "ex02_fix_broadcasting"])
def test_every_spelling_of_a_kata_grades_it(name):
    done = run_grade(name, "--file", str(REFERENCE), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["extra_data"]["kata"] == KATA.name


def test_json_is_one_gradescope_document_and_exit_0_on_full_marks():
    done = run_grade("ex02", "--file", str(REFERENCE), "--json")
    assert done.returncode == 0
    doc = json.loads(done.stdout)  # the whole of stdout is one document
    assert doc["score"] == doc["max_score"] == KATA.points
    assert isinstance(doc["execution_time"], float)
    assert doc["output"]
    for test in doc["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "tags"}
        assert test["status"] == "passed"


def test_not_full_marks_exits_1_and_reports_in_the_terminal(tmp_path):
    stub = tmp_path / "mine.py"
    stub.write_text(KATA.stub_text())
    done = run_grade("ex02", "--file", str(stub))
    assert done.returncode == 1
    assert "✗" in done.stdout and "0/10" in done.stdout
    assert "keepdim=True" in done.stdout  # the diagnosis, in the learner's terms
    assert "grade hint ex02" in done.stdout


@pytest.mark.parametrize(
    "args",
    [["ex99"], ["nonsense"], ["ex02", "--file", "/no/such/file.py"], ["hint"], ["ex02", "extra"]],
)
def test_usage_errors_exit_2_with_one_line_on_stderr(args):
    done = run_grade(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_same_seed_gives_the_same_result(tmp_path):
    stub = tmp_path / "mine.py"
    stub.write_text(KATA.stub_text())
    docs = [
        json.loads(run_grade("ex02", "--file", str(stub), "--json", "--seed", "7").stdout)
        for _ in range(2)
    ]
    for doc in docs:
        doc.pop("execution_time")
    assert docs[0] == docs[1]
    assert docs[0]["extra_data"]["seed"] == 7


def test_seed_is_random_per_run_and_printed():
    seeds = {
        json.loads(run_grade("ex02", "--file", str(REFERENCE), "--json").stdout)["extra_data"][
            "seed"
        ]
        for _ in range(2)
    }
    assert len(seeds) == 2


def test_hints_come_one_at_a_time_then_run_out(tmp_path):
    env = {"KATAS_STATE_DIR": str(tmp_path)}
    shown = [run_grade("hint", "ex02", env=env).stdout for _ in range(len(KATA.hints) + 1)]
    for level, (text, hint) in enumerate(zip(shown, KATA.hints, strict=False), start=1):
        assert f"Hint {level}/{len(KATA.hints)}" in text and hint in text
    assert "No more hints" in shown[-1]


def test_list_shows_every_kata(tmp_path):
    done = run_grade("list", env={"KATAS_STATE_DIR": str(tmp_path)})
    assert done.returncode == 0
    for kata in catalog.katas():
        assert kata.id in done.stdout and kata.title in done.stdout


def test_grading_never_writes_into_exercises(tmp_path):
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "exercises").iterdir()}
    run_grade("ex02", env={"KATAS_STATE_DIR": str(tmp_path)})
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "exercises").iterdir()}
    assert before == after


def test_help_lists_every_command():
    done = run_grade("--help")
    assert done.returncode == 0
    for command in ("watch", "list", "hint", "reset", "solution", "init", "notebook", "batch"):
        assert f"grade {command}" in done.stdout, command
    assert "grade nbgrader build" in done.stdout and "grade gradescope build" in done.stdout


def test_list_json_is_a_document(tmp_path):
    done = run_grade("list", "--json", env={"KATAS_STATE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [k["id"] for k in doc["katas"]] == [k.id for k in catalog.katas()]
    assert doc["max_score"] == sum(k.points for k in catalog.katas())


def test_a_report_reads_well_at_80_columns(tmp_path):
    stub = tmp_path / "mine.py"
    stub.write_text(catalog.find("ex05").stub_text())
    child = pexpect.spawn(
        sys.executable,
        ["-m", "grader", "ex05", "--file", str(stub)],
        cwd=str(ROOT),
        env={**os.environ, "NO_COLOR": "1"},
        encoding="utf-8",
        dimensions=(50, 80),
        timeout=120,
    )
    child.expect(pexpect.EOF)
    lines = child.before.replace("\r", "").splitlines()
    assert lines and all(len(line.rstrip()) <= 80 for line in lines), max(lines, key=len)
    checks = [line for line in lines if line.lstrip().startswith(("✓", "✗"))]
    assert checks and all(line.split()[1].count("/") == 1 for line in checks), checks
    assert not any(line.rstrip().endswith(("yours", "sel")) for line in lines), "mid-word"


def test_all_katas_are_planned_longest_first_after_those_without_a_preload():
    katas = catalog.katas()
    took = {"ex20": 1.4, "ex06": 0.3, "ex23": 0.2, "ex01": 0.05}
    order = [kata.id for kata in cli.plan(katas, took)]
    assert sorted(order) == sorted(k.id for k in katas), "every kata once"
    light = [k.id for k in katas if not k.worker_imports]
    assert set(order[: len(light)]) == set(light), "runs without a preload go first"
    assert order[0] == "ex06" and order[len(light)] == "ex20", "the longest of each group first"
    assert order.index("ex23") < order.index("ex21"), "then what is known, longest first"
    assert order.index("ex01") < order.index("ex02"), "and a kata never graded goes last"
    assert cli.plan(katas, {})[0].id == "ex22", "never graded: later katas first"
