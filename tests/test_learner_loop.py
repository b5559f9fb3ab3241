"""The learner's loop, driven as a learner would in a temporary copy of the repository:
reset, solution, progress, and watch mode in a pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from grader import catalog, progress, workspace

from .conftest import grade, with_override
from .variants.ex04_training_loop import WRONG

KATA = catalog.find("ex02")
NEXT = catalog.find("ex03")


def exercise(repo: Path, kata: catalog.Kata = KATA) -> Path:
    return repo / "exercises" / kata.filename


def reference(kata: catalog.Kata = KATA) -> str:
    return kata.solution_path.read_text()


def test_reset_restores_the_stub_and_keeps_a_backup(repo):
    mine = "# my attempt, an hour of work\n" + reference()
    exercise(repo).write_text(mine)
    assert grade(repo, "reset", "ex02", stdin="n\n").returncode == 1
    assert exercise(repo).read_text() == mine  # declined: nothing changed
    done = grade(repo, "reset", "ex02", "--yes")
    assert done.returncode == 0, done.stderr
    assert exercise(repo).read_text() == KATA.stub_text()
    backups = list((repo / ".grade" / "backups").glob("ex02_fix_broadcasting.*.py"))
    assert [b.read_text() for b in backups] == [mine]


def test_reset_never_restores_a_committed_solution(repo):
    exercise(repo).write_text(reference())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qam", "progress"], check=True)  # the solution, committed
    assert grade(repo, "reset", "ex02", "--yes").returncode == 0
    assert exercise(repo).read_text() == KATA.stub_text(), "the stub, not the last commit"


def test_solution_is_shown_only_once_the_kata_passes(repo):
    refused = grade(repo, "solution", "ex02")
    assert refused.returncode == 1 and "does not pass yet" in refused.stdout
    assert "keepdim=True" not in refused.stdout
    forced = grade(repo, "solution", "ex02", "--force")
    assert forced.stdout == reference()
    exercise(repo).write_text(reference())
    shown = grade(repo, "solution", "ex02")
    assert shown.returncode == 0 and shown.stdout == reference()


def status_row(listing: str, kata_id: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(kata_id))


def test_progress_comes_from_grading_and_survives_a_lost_or_forged_state_file(repo):
    state_file = repo / ".grade" / "state.json"
    exercise(repo).write_text(reference())
    assert grade(repo, "ex02").returncode == 0
    assert "passed" in status_row(grade(repo, "list").stdout, "ex02")
    state_file.unlink()
    row = status_row(grade(repo, "list").stdout, "ex02")
    assert "in progress" in row and "-/10" in row, "an edited file, not graded since"
    assert grade(repo, "ex02").returncode == 0  # graded again, status again
    exercise(repo).write_text(KATA.stub_text())
    state = json.loads(state_file.read_text())
    state["katas"]["ex02"].update(score=10.0, max_score=10.0)  # forged: claims a pass
    state_file.write_text(json.dumps(state))
    doc = json.loads(grade(repo, "ex02", "--json").stdout)
    assert doc["score"] == 0


def test_all_katas_table_names_the_next_kata(repo):
    exercise(repo, catalog.find("ex01")).write_text(reference(catalog.find("ex01")))
    done = grade(repo)
    assert done.returncode == 1
    assert "Next: `grade ex02`" in done.stdout
    assert "1/" in done.stdout and "katas passed" in done.stdout
    took = progress.last_seconds(workspace.find(repo))
    assert set(took) == {k.id for k in catalog.katas()}, "the next plan knows every kata's time"
    assert all(0 < seconds < 60 for seconds in took.values()), took


def test_watch_regrades_on_save_survives_a_syntax_error_and_moves_on(repo):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "grader", "watch", "ex02"],
        cwd=str(repo),
        env={**os.environ, "PYTHONPATH": str(repo), "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )
    try:
        child.expect("Score 0/10")
        exercise(repo).write_text("def center_rows(x:\n")
        saved = time.monotonic()
        child.expect("watching")
        assert time.monotonic() - saved < 1.0, "no re-grade within a second of the save"
        child.expect("syntax error on line 1")
        exercise(repo).write_text(reference())
        child.expect("ex02 passes!")
        child.send("h")
        child.expect("Hint 1/")
        child.send("n")
        child.expect(f"watching .*{NEXT.filename}")
        child.expect("Score")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_hint_speaks_first_to_the_mistake_the_last_grade_found(repo):
    ex04 = catalog.find("ex04")
    exercise(repo, ex04).write_text(with_override("ex04", WRONG["ex04/no-train-mode"]))
    assert grade(repo, "ex04").returncode == 1
    first = grade(repo, "hint", "ex04").stdout
    about = ex04.hint_about("ex04/no-train-mode")
    assert f"Hint {about}/" in first and "first mistake" in first, first
    second = grade(repo, "hint", "ex04").stdout
    assert "Hint 1/" in second, "then the general hints, in order"
    shown = grade(repo, "hint", "ex04", "--all").stdout
    assert shown.index("Hint 1/") < shown.index(f"Hint {about}/"), shown
