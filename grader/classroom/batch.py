"""Grades a whole class: every student's work for every kata, on all cores.

Two layouts are understood:
    SUBMISSIONS/<student>/exNN_<slug>.py                      (files, as `grade --file`)
    SUBMISSIONS/<student>/<assignment>/exNN_<slug>.ipynb      (nbgrader's submitted/)

Grading processes, two per core, share one sandboxed worker (grader.parallel),
which forks a fresh child per submission as `grade` does: same judge, same
limits, same scores. A grading process takes a chunk of one kata's submissions at
a time and grades them in one pytest session. A crash, hang or memory bomb costs
only its own checks. Every finished grade is saved at once under OUT/graded/, so
an interrupted batch resumes where it stopped; the CSV and the per-student JSON
files are written from those at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import secrets
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import catalog, notebooks, parallel
from ..catalog import Kata, UnknownKata
from ..lanes import Lane
from ..reporters import console
from ..results import Result, fingerprint
from ..sandbox import Limits
from ..usage import EXIT_PASSED, UsageError

CSV_FIELDS = ("student", "kata", "score", "max_score", "status")


@dataclass(frozen=True)
class Job:
    """One student's work for one kata."""

    student: str
    kata: str  # the kata's name, e.g. "ex05_manual_sgd"
    path: Path
    assignment: str = ""  # the nbgrader assignment, for the notebook layout

    @property
    def key(self) -> str:
        return f"{self.student}/{self.kata}"


def _kata_of(path: Path) -> Kata | None:
    try:
        return catalog.find(path.stem)
    except UnknownKata:
        return None


def find_jobs(root: Path) -> list[Job]:
    """Every kata file under `root`, in either layout; other files are ignored."""
    jobs = []
    for student in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(student.glob("*.py")):
            if kata := _kata_of(path):
                jobs.append(Job(student.name, kata.name, path))
        for path in sorted(student.glob("*/*.ipynb")):
            if kata := _kata_of(path):
                jobs.append(Job(student.name, kata.name, path, assignment=path.parent.name))
    return jobs


def read_code(job: Job) -> tuple[str, str]:
    """The code to grade, and why it cannot be graded ('' when it can)."""
    from ..judge import read_submission

    text, problem = read_submission(job.path)
    if problem or job.path.suffix != ".ipynb":
        return text, problem
    try:
        return notebooks.solution_code(json.loads(text)), ""
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return "", f"{job.path.name} is not a readable notebook ({type(exc).__name__}: {exc})"


# -- a chunk of jobs, in a grading process ------------------------------------------------

CHUNK_MAX = 16  # jobs of one kata graded in one pytest session (its start-up paid once)


def _status(result: Result, problem: str) -> str:
    from ..judge import WORKER_BROKE

    broke = any(check.output.startswith(WORKER_BROKE) for check in result.checks)
    if problem or broke or not result.checks:
        return "error"  # unreadable, or the grader could not run it: graded again on resume
    if result.passed:
        return "passed"
    return "partial" if result.score > 0 else "failed"


def _grade(lane: Lane, chunk: tuple[list[Job], int]) -> list[tuple[Job, dict[str, Any]]]:
    """Grade jobs of one kata, each in a fresh run process, in one pytest session."""
    from .. import judge

    jobs, seed = chunk
    submissions = []
    for job in jobs:
        code, problem = read_code(job)
        submissions.append(judge.Submission(code, str(job.path), problem))
    kata = catalog.find(jobs[0].kata)
    results = judge.grade_sources(kata, submissions, seed=seed, lane=lane)
    return [
        (
            job,
            {
                "fingerprint": result.fingerprint,
                "status": _status(result, submission.problem),
                "scores": {check.check: check.score for check in result.checks},
                "result": result.to_gradescope(),
            },
        )
        for job, submission, result in zip(jobs, submissions, results, strict=True)
    ]


def _chunks(jobs: list[Job], processes: int) -> list[list[Job]]:
    """The jobs by kata, in chunks small enough that every process gets several. A chunk
    takes every n-th job of its kata, not n neighbours: hangs (each costs its time limit)
    in neighbouring students' work land in different chunks, graded side by side."""
    size = max(1, min(CHUNK_MAX, len(jobs) // (4 * processes)))
    by_kata: dict[str, list[Job]] = {}
    for job in jobs:
        by_kata.setdefault(job.kata, []).append(job)
    split = []
    for group in by_kata.values():
        count = -(-len(group) // size)  # chunks of at most `size` jobs
        split += [group[i::count] for i in range(count)]
    return split


def _grades_by_cell(gb: Any, submission: Any) -> dict[tuple[str, str], Any]:
    """A submitted assignment's grades by (notebook, cell) name, in one query: walking
    nbgrader's relationships instead loads each grade's cell on its own (1300 queries for a
    class of 40, most of the gradebook's time)."""
    from nbgrader.api import BaseCell, Grade, Notebook, SubmittedNotebook

    rows = (
        gb.db.query(Grade, Notebook.name, BaseCell.name)
        .join(Grade.cell)
        .join(Grade.notebook)
        .join(SubmittedNotebook.notebook)
        .filter(SubmittedNotebook.assignment_id == submission.id)
    )
    return {(notebook, cell): grade for grade, notebook, cell in rows}


def _import_nbgrader() -> None:
    """nbgrader.api, for the gradebook (0.5 s: nbformat, nbgrader's server extensions).

    jsonschema, which nbformat imports, compiles an IRI grammar at import when rfc3987_syntax
    is installed: 0.7 s more, for a format check the gradebook never makes. It is left out.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # None: the import fails, jsonschema goes on
    import nbgrader.api  # noqa: F401


# -- the batch ------------------------------------------------------------------------------


class Batch:
    """A batch's jobs and its output folder: what is done, what is left."""

    def __init__(self, root: Path, out: Path) -> None:
        root = root.resolve()
        if (root / "submitted").is_dir():  # an nbgrader course directory was named
            root = root / "submitted"
        self.root = root
        self.out = out.resolve()
        # nbgrader's layout: the course holds the gradebook, and source/ holds the references
        self.course = root.parent if (root.parent / "gradebook.db").is_file() else None
        self.jobs = find_jobs(root)

    def _record_path(self, job: Job) -> Path:
        return self.out / "graded" / job.student / f"{job.kata}.json"

    def record(self, job: Job) -> dict[str, Any] | None:
        try:
            return json.loads(self._record_path(job).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def pending(self) -> list[Job]:
        """Jobs without a saved grade of the same code (a resubmission is graded again)."""
        left = []
        for job in self.jobs:
            saved = self.record(job)
            if (
                saved is None
                or saved.get("status") == "error"
                or saved.get("fingerprint") != fingerprint(read_code(job)[0])
            ):
                left.append(job)
        return left

    def save(self, job: Job, record: dict[str, Any]) -> None:
        path = self._record_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(path)  # atomic: an interrupted batch never leaves half a record

    def run(
        self,
        todo: list[Job],
        limits: Limits,
        processes: int,
        seed: int | None = None,
        advance: Callable[[Job], None] = lambda job: None,
    ) -> None:
        """Grade `todo` (see pending()) on `processes` processes; `advance` after each job."""
        seed = secrets.randbelow(2**31) if seed is None else seed
        self.out.mkdir(parents=True, exist_ok=True)
        preload = catalog.worker_imports({catalog.find(job.kata) for job in todo})
        items = [(chunk, seed) for chunk in _chunks(todo, processes)]
        graded_chunks = parallel.imap_unordered(_grade, items, limits, processes, preload)
        for index, graded in enumerate(graded_chunks):
            for job, record in graded:
                self.save(job, record)
                advance(job)
            if index == 0 and self.course is not None:
                _import_nbgrader()  # while the grading processes go on, not after them

    def records(self) -> Iterator[tuple[Job, dict[str, Any]]]:
        for job in self.jobs:
            if (saved := self.record(job)) is not None:
                yield job, saved

    def write_reports(self) -> tuple[Path, int]:
        """scores.csv and <student>.json; returns the CSV's path and how many rows it has."""
        by_student: dict[str, list[dict[str, Any]]] = {}
        rows = []
        for job, saved in self.records():
            doc = saved["result"]
            by_student.setdefault(job.student, []).append(doc)
            rows.append(
                {
                    "student": job.student,
                    "kata": job.kata,
                    "score": doc["score"],
                    "max_score": doc["max_score"],
                    "status": saved["status"],
                }
            )
        for student, docs in by_student.items():
            path = self.out / f"{student}.json"
            path.write_text(json.dumps(docs, indent=2) + "\n", encoding="utf-8")
        table = self.out / "scores.csv"
        with table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        return table, len(rows)

    def write_gradebook(self) -> int:
        """For the nbgrader layout: each check's score into the course's gradebook. A student
        the gradebook lacks is added, as nbgrader autograde does (create_student)."""
        if self.course is None:
            return 0
        _import_nbgrader()
        from nbgrader.api import Gradebook, MissingEntry
        from sqlalchemy.exc import SAWarning

        by_submission: dict[tuple[str, str], list[tuple[Job, dict[str, Any]]]] = {}
        for job, saved in self.records():
            if job.assignment:
                by_submission.setdefault((job.student, job.assignment), []).append((job, saved))
        written = 0
        database = f"sqlite:///{self.course / 'gradebook.db'}"
        # nbgrader's own use of SQLAlchemy 2 warns as it adds a submission (autograde too)
        with warnings.catch_warnings(), Gradebook(database) as gb:
            warnings.simplefilter("ignore", SAWarning)
            for (student, assignment), graded in by_submission.items():
                try:
                    gb.update_or_create_student(student)
                    submission = gb.update_or_create_submission(assignment, student)
                except MissingEntry:
                    continue  # not an assignment of this course
                grades = _grades_by_cell(gb, submission)
                for job, saved in graded:
                    cells = {check: grades.get((job.kata, check)) for check in saved["scores"]}
                    if None in cells.values():
                        continue  # not a notebook of this assignment, or one with other checks
                    for check, score in saved["scores"].items():
                        cells[check].auto_score = score
                        cells[check].needs_manual_grade = False
                    written += 1
            gb.db.commit()
        return written


def main(argv: list[str]) -> int:
    """`grade batch SUBMISSIONS_DIR`."""
    parser = argparse.ArgumentParser(
        prog="grade batch",
        description="Grade every student's katas: SUBMISSIONS_DIR/<student>/exNN_*.py, or "
        "an nbgrader course (or its submitted/ folder) of <student>/<assignment>/*.ipynb.",
    )
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, help="default: grades/ beside SUBMISSIONS_DIR")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2 * parallel.default_processes(),
        help="grading processes (default: two per core, so that one waiting out a hanging "
        "submission leaves its core to the others)",
    )
    parser.add_argument("--seed", type=int, help="one seed for every submission")
    parser.add_argument("--time-limit", type=float, default=Limits.check_seconds)
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a directory")
    if args.jobs < 1 or args.time_limit <= 0:
        raise UsageError("--jobs and --time-limit must be positive")
    out = args.out or args.submissions.resolve().parent / "grades"
    work = Batch(args.submissions, out)
    if not work.jobs:
        raise UsageError(f"no kata files (exNN_*.py or .ipynb) for any student in {work.root}")
    todo = work.pending()
    done_before = len(work.jobs) - len(todo)
    if done_before:
        print(f"resuming: {done_before} of {len(work.jobs)} already graded", file=sys.stderr)
    from rich.progress import Progress

    with Progress(console=console(sys.stderr), transient=True) as bar:
        task = bar.add_task("grading", total=len(work.jobs), completed=done_before)
        try:
            work.run(
                todo,
                Limits(check_seconds=args.time_limit),
                args.jobs,
                seed=args.seed,
                advance=lambda job: bar.update(task, advance=1, description=job.key),
            )
        except KeyboardInterrupt:
            print("interrupted: run the same command again to resume", file=sys.stderr)
            return 130
    table, rows = work.write_reports()
    print(f"{rows} grades in {table}; one JSON per student in {work.out}")
    if work.course is not None:
        print(f"{work.write_gradebook()} notebooks' scores written to {work.course}/gradebook.db")
    return EXIT_PASSED
