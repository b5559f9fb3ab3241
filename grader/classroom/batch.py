"""Grades a whole class: every student's work for every kata, on all cores.

Two layouts are understood:
    SUBMISSIONS/<student>/exNN_<slug>.py                      (files, as `grade --file`)
    SUBMISSIONS/<student>/<assignment>/exNN_<slug>.ipynb      (nbgrader's submitted/)
A kata file may be named by its id alone (ex02.py) and in any case (Ex01.PY); a student's
folder of files may hold notebooks too. Any other file is listed in OUT/skipped.txt with the
reason. Two files of one student for the same kata are both left ungraded ("ambiguous"):
either could be the one the student meant, and a guess would grade the other in silence.

The class is every student's folder (for an nbgrader course, also every student of its
gradebook); its katas are those of --katas, else for a course each assignment's notebooks in
source/, else every kata some student handed in. Each student gets one row per kata of each
assignment in scores.csv, "missing" when nothing was handed in.

Grading processes, two per core, share one sandboxed worker (grader.parallel),
which forks a fresh child per submission as `grade` does: same judge, same
limits, same scores. A grading process takes a chunk of one kata's submissions at
a time and grades them in one pytest session. A crash, hang or memory bomb costs
only its own checks. Every finished grade is saved at once under OUT/graded/, so
an interrupted batch resumes where it stopped; the CSV, the per-student JSON
files, report.html and each student's feedback page are written from those at the end.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import secrets
import sqlite3
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog, notebooks, parallel
from ..catalog import Kata, UnknownKata
from ..lanes import Lane
from ..reporters import console
from ..results import Result, fingerprint
from ..sandbox import Limits
from ..usage import EXIT_PASSED, UsageError
from . import report
from .report import Row

NBGRADER_OWN = {"timestamp.txt"}  # what nbgrader itself puts in a submitted assignment
SHOWN_SKIPPED = 10  # files not graded that stderr names; skipped.txt has them all


@dataclass(frozen=True)
class Job:
    """One student's work for one kata."""

    student: str
    kata: str  # the kata's name, e.g. "ex05_manual_sgd"
    path: Path
    assignment: str = ""  # the nbgrader assignment, for the notebook layout

    @property
    def key(self) -> str:
        return "/".join(part for part in (self.student, self.assignment, self.kata) if part)


def _kata_of(path: Path) -> Kata | None:
    try:
        return catalog.find(path.stem)
    except UnknownKata:
        return None


def _entries(folder: Path) -> list[Path]:
    """A folder's entries, less hidden ones (.ipynb_checkpoints, .DS_Store) and caches."""
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__pycache__"
    )


@dataclass
class Found:
    """What a submissions folder holds: the files to grade, and what is not graded, why."""

    root: Path
    only: set[str] | None = None  # the kata names of --katas
    jobs: list[Job] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    # (student, assignment, kata) -> the files that each could be it
    ambiguous: dict[tuple[str, str, str], list[Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "path: why", for skipped.txt

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append(f"{path.relative_to(self.root)}: {reason}")

    def not_graded(self) -> list[str]:
        """Every file that is not graded, with the reason: skipped.txt's lines."""
        lines = list(self.skipped)
        for (_, _, kata), paths in self.ambiguous.items():
            names = ", ".join(str(path.relative_to(self.root)) for path in paths)
            lines.append(f"{names}: {len(paths)} files for {kata}, neither graded")
        return lines

    def take(self, student: str, assignment: str, path: Path) -> tuple[str, str, str] | None:
        """The (student, assignment, kata) that `path` is for, or None when it is skipped."""
        suffix = path.suffix.lower()
        if assignment and suffix != ".ipynb":
            self.skip(path, "not a notebook (an assignment's folder is read for exNN_*.ipynb)")
            return None
        if suffix not in (".py", ".ipynb"):
            self.skip(path, "not a .py file or a notebook")
            return None
        kata = _kata_of(path)
        if kata is None:
            self.skip(path, f"not named after a kata (exNN_slug{suffix}, or exNN{suffix})")
            return None
        if self.only is not None and kata.name not in self.only:
            self.skip(path, f"{kata.id} is not one of --katas")
            return None
        return student, assignment, kata.name


def _files(student: Path, found: Found) -> Iterator[tuple[str, Path]]:
    """A student's files, each with its assignment ('' for those in the student's folder)."""
    for entry in _entries(student):
        if not entry.is_dir():
            yield "", entry
            continue
        for path in _entries(entry):
            if path.is_dir():
                found.skip(path, "a folder inside an assignment's folder is not read")
            elif path.name not in NBGRADER_OWN:
                yield entry.name, path


def find_work(root: Path, only: set[str] | None = None, ignore: Path | None = None) -> Found:
    """Every kata file under `root`, in either layout, and every other file, with the reason
    it is not graded. `ignore` is a folder that is not a student's (the output folder)."""
    found = Found(root, only)
    candidates: dict[tuple[str, str, str], list[Path]] = {}
    for folder in _entries(root):
        if folder == ignore:
            continue
        if not folder.is_dir():
            found.skip(folder, "not in a student's folder (<student>/exNN_slug.py)")
            continue
        found.students.append(folder.name)
        for assignment, path in _files(folder, found):
            if key := found.take(folder.name, assignment, path):
                candidates.setdefault(key, []).append(path)
    for (student, assignment, kata), paths in candidates.items():
        if len(paths) == 1:
            found.jobs.append(Job(student, kata, paths[0], assignment))
        else:
            found.ambiguous[(student, assignment, kata)] = paths
    return found


def read_code(job: Job) -> tuple[str, str]:
    """The code to grade, and why it cannot be graded ('' when it can)."""
    from ..judge import read_submission

    text, problem = read_submission(job.path)
    if problem or job.path.suffix.lower() != ".ipynb":
        return text, problem
    try:
        if job.assignment:  # nbgrader's: its solution cell alone, as autograde grades it
            return notebooks.solution_code(json.loads(text)), ""
        return notebooks.code_of(text)[0], ""  # any notebook, as `grade --file` reads it
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return "", f"{job.path.name} is not a readable notebook ({type(exc).__name__}: {exc})"


# -- a chunk of jobs, in a grading process ------------------------------------------------

CHUNK_MAX = 16  # jobs of one kata graded in one pytest session (its start-up paid once)


def _status(result: Result, problem: str) -> tuple[str, str]:
    """The grade's status for scores.csv, and what it says about the file ('' if nothing)."""
    from ..judge import WORKER_BROKE

    broke = [check.output for check in result.checks if check.output.startswith(WORKER_BROKE)]
    if problem or broke or not result.checks:
        # unreadable, or the grader could not run it: graded again on resume
        return "error", problem or next(iter(broke), "the grader found no checks to run")
    if result.passed:
        return "passed", result.problem
    return "partial" if result.score > 0 else "failed", result.problem


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
    graded = []
    for job, submission, result in zip(jobs, submissions, results, strict=True):
        status, message = _status(result, submission.problem)
        record = {
            "fingerprint": result.fingerprint,
            "status": status,
            "message": message,
            "scores": {check.check: check.score for check in result.checks},
            "result": result.to_gradescope(),
        }
        graded.append((job, record))
    return graded


def _chunks(jobs: list[Job], processes: int) -> list[list[Job]]:
    """The jobs by kata, in chunks small enough that every process gets several. A chunk
    takes every n-th job of its kata, not n neighbours: hangs (each costs its time limit)
    in neighbouring students' work land in different chunks, graded side by side. Katas
    that need the worker's preload come last: their lanes are ready seconds later."""
    size = max(1, min(CHUNK_MAX, len(jobs) // (4 * processes)))
    by_kata: dict[str, list[Job]] = {}
    for job in jobs:
        by_kata.setdefault(job.kata, []).append(job)
    split = []
    for kata in sorted(by_kata, key=lambda name: bool(catalog.find(name).worker_imports)):
        group = by_kata[kata]
        count = -(-len(group) // size)  # chunks of at most `size` jobs
        split += [group[i::count] for i in range(count)]
    return split


def _grades_by_cell(gb: Any, submission_id: str) -> dict[tuple[str, str], Any]:
    """A submitted assignment's grades by (notebook, cell) name, in one query: walking
    nbgrader's relationships instead loads each grade's cell on its own (1300 queries for a
    class of 40, most of the gradebook's time)."""
    from nbgrader.api import BaseCell, Grade, Notebook, SubmittedNotebook

    rows = (
        gb.db.query(Grade, Notebook.name, BaseCell.name)
        .join(Grade.cell)
        .join(Grade.notebook)
        .join(SubmittedNotebook.notebook)
        .filter(SubmittedNotebook.assignment_id == submission_id)
    )
    return {(notebook, cell): grade for grade, notebook, cell in rows}


def _gradebook_students(database: Path) -> set[str]:
    """The students an nbgrader gradebook enrolled (`nbgrader db student add`), read without
    importing nbgrader; none when it cannot be read."""
    try:
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            return {student for (student,) in db.execute("SELECT id FROM student")}
    except sqlite3.Error:
        return set()


@contextmanager
def _quiet_sqlalchemy() -> Iterator[None]:
    """nbgrader's own use of SQLAlchemy 2 warns as it adds a submission (autograde too)."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def _import_nbgrader() -> None:
    """nbgrader.api, for the gradebook (0.5 s: SQLAlchemy, nbformat), and no more of nbgrader.

    nbgrader's own __init__ loads its Jupyter server extensions (tornado handlers, nbconvert,
    its exchange: 0.3 s more), none of which the gradebook uses; where nbgrader is not
    imported yet, its package is set up without running that __init__. jsonschema, which
    nbformat imports, compiles an IRI grammar at import when rfc3987_syntax is installed:
    0.7 s more, for a format check the gradebook never makes. It is left out.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # None: the import fails, jsonschema goes on
    if "nbgrader" not in sys.modules and (spec := importlib.util.find_spec("nbgrader")):
        sys.modules["nbgrader"] = importlib.util.module_from_spec(spec)  # its __path__ only
    import nbgrader.api  # noqa: F401


# -- the batch ------------------------------------------------------------------------------


class Batch:
    """A batch's jobs and its output folder: what is done, what is left."""

    def __init__(self, root: Path, out: Path | None = None, katas: list[Kata] | None = None):
        root = root.resolve()
        if (root / "submitted").is_dir():  # an nbgrader course directory was named
            root = root / "submitted"
        self.root = root
        # nbgrader's layout: the course holds the gradebook, and source/ holds the references
        self.course = root.parent if (root.parent / "gradebook.db").is_file() else None
        # a course's grades go in it; a folder of files gets grades/ beside it, not a student
        default = self.course / "grades" if self.course else root.parent / "grades"
        self.out = (out or default).resolve()
        self.only = {kata.name for kata in katas} if katas else None
        self.found = find_work(root, self.only, ignore=self.out)
        self.jobs = self.found.jobs
        self._gradebook: Any = None  # nbgrader's Gradebook, from open_gradebook()
        self._grades: dict[tuple[str, str], dict[tuple[str, str], Any]] = {}

    def _record_path(self, job: Job) -> Path:
        return self.out / "graded" / job.student / job.assignment / f"{job.kata}.json"

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
        katas = {catalog.find(job.kata) for job in todo}
        items = [(chunk, seed) for chunk in _chunks(todo, processes)]
        graded_chunks = parallel.imap_unordered(
            _grade,
            items,
            limits,
            processes,
            catalog.worker_imports(katas),
            runs=len(todo),
            checks=katas,
            meanwhile=self.open_gradebook,  # while the grading processes go on, not after them
        )
        for graded in graded_chunks:
            for job, record in graded:
                self.save(job, record)
                advance(job)

    def records(self) -> Iterator[tuple[Job, dict[str, Any]]]:
        for job in self.jobs:
            if (saved := self.record(job)) is not None:
                yield job, saved

    def write_skipped(self) -> tuple[Path, list[str]]:
        """skipped.txt: every file not graded, and why (empty when every file was)."""
        lines = self.found.not_graded()
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "skipped.txt"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path, lines

    def students(self) -> list[str]:
        """The class: every student's folder, and for a course every student it enrolled."""
        students = set(self.found.students)
        if self.course is not None:
            students |= _gradebook_students(self.course / "gradebook.db")
        return sorted(students)

    def katas(self) -> dict[str, list[str]]:
        """Each assignment's katas ('' for a folder of files), in learning order."""
        by_assignment: dict[str, set[str]] = {}
        handed_in = [(job.assignment, job.kata) for job in self.jobs]
        for assignment, kata in handed_in + [key[1:] for key in self.found.ambiguous]:
            by_assignment.setdefault(assignment, set()).add(kata)
        for assignment, katas in by_assignment.items():
            if self.only is not None:
                katas |= self.only
            elif self.course is not None and assignment:
                source = self.course / "source" / assignment
                katas |= {k.name for p in source.glob("*.ipynb") if (k := _kata_of(p))}
        order = {kata.name: kata.number for kata in catalog.katas()}
        return {
            assignment: sorted(katas, key=order.__getitem__)
            for assignment, katas in sorted(by_assignment.items())
        }

    def rows(self) -> list[Row]:
        """One row per student, assignment and kata of the class: what scores.csv holds."""
        jobs = {(job.student, job.assignment, job.kata): job for job in self.jobs}
        katas = self.katas()
        return [
            self._row((student, assignment, kata), jobs.get((student, assignment, kata)))
            for student in self.students()
            for assignment, names in katas.items()
            for kata in names
        ]

    def _row(self, key: tuple[str, str, str], job: Job | None) -> Row:
        points = catalog.find(key[2]).points
        if key in self.found.ambiguous:
            paths = self.found.ambiguous[key]
            names = " and ".join(path.name for path in paths)
            why = f"{len(paths)} files for {key[2]}: {names}; neither was graded, keep one"
            return Row(*key, 0.0, points, "ambiguous", why)
        if job is None:
            where = "/".join(part for part in key[1:] if part)
            return Row(*key, 0.0, points, "missing", f"nothing handed in for {where}")
        saved = self.record(job)
        if saved is None:
            return Row(*key, 0.0, points, "error", "not graded yet: run grade batch again")
        doc = saved["result"]
        message = saved.get("message", "")  # none in an older batch's records
        return Row(*key, doc["score"], doc["max_score"], saved["status"], message, doc)

    def write_reports(self, rows: list[Row]) -> tuple[Path, Path]:
        """scores.csv, <student>.json, report.html and feedback/<student>.html; the CSV's
        path and the report's."""
        by_student: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row.result is not None:
                by_student.setdefault(row.student, []).append(row.result)
        for student, docs in by_student.items():
            path = self.out / f"{student}.json"
            path.write_text(json.dumps(docs, indent=2) + "\n", encoding="utf-8")
        table = self.out / "scores.csv"
        with table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=report.CSV_FIELDS)
            writer.writeheader()
            writer.writerows(row.csv() for row in rows)
        return table, report.write(self.out, rows)

    def open_gradebook(self) -> None:
        """For the nbgrader layout: the course's gradebook opened, and each handed-in
        submission found in it or added, with its student (as nbgrader autograde does,
        create_student). Called while the grading processes run, so that writing the
        scores at the end is only that."""
        if self.course is None or self._gradebook is not None:
            return
        _import_nbgrader()
        from nbgrader.api import Gradebook, MissingEntry

        self._gradebook = gb = Gradebook(f"sqlite:///{self.course / 'gradebook.db'}")
        submissions: dict[tuple[str, str], str] = {}
        with _quiet_sqlalchemy():
            for student, assignment in sorted({(j.student, j.assignment) for j in self.jobs}):
                if not assignment:
                    continue
                try:
                    gb.update_or_create_student(student)
                    submission = gb.update_or_create_submission(assignment, student)
                except MissingEntry:
                    continue  # not an assignment of this course
                submissions[student, assignment] = submission.id
        # after the last commit (each of nbgrader's calls makes one): a commit expires what
        # the session loaded, and each grade would be read again, one query a cell
        for key, submission_id in submissions.items():
            self._grades[key] = _grades_by_cell(gb, submission_id)

    def write_gradebook(self) -> int:
        """For the nbgrader layout: each check's score into the course's gradebook (see
        open_gradebook); how many notebooks' scores were written."""
        if self.course is None:
            return 0
        self.open_gradebook()
        gb, self._gradebook = self._gradebook, None
        written = 0
        try:
            with _quiet_sqlalchemy():
                for job, saved in self.records():
                    grades = self._grades.get((job.student, job.assignment), {})
                    cells = {check: grades.get((job.kata, check)) for check in saved["scores"]}
                    if None in cells.values():
                        continue  # not a notebook of this assignment, or one with other checks
                    for check, score in saved["scores"].items():
                        cells[check].auto_score = score
                        cells[check].needs_manual_grade = False
                    written += 1
                gb.db.commit()
        finally:
            gb.close()
        return written


def main(argv: list[str]) -> int:
    """`grade batch SUBMISSIONS_DIR`."""
    parser = argparse.ArgumentParser(
        prog="grade batch",
        description="Grade every student's katas: SUBMISSIONS_DIR/<student>/exNN_*.py, or "
        "an nbgrader course (or its submitted/ folder) of <student>/<assignment>/*.ipynb.",
    )
    parser.add_argument("submissions", type=Path)
    parser.add_argument(
        "--out", type=Path, help="default: a course's grades/, or grades/ beside SUBMISSIONS_DIR"
    )
    parser.add_argument(
        "--katas",
        help="the class's katas, e.g. ex01-ex05: other files are skipped, and a student "
        "without one of them gets a 'missing' row (default: a course's notebooks, or every "
        "kata some student handed in)",
    )
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
    try:
        katas = catalog.select(args.katas) if args.katas else None
    except UnknownKata as exc:
        raise UsageError(str(exc)) from None
    work = Batch(args.submissions, args.out, katas)
    if not work.jobs and not work.found.ambiguous:
        skipped = "".join(f"\n  {line}" for line in work.found.skipped[:SHOWN_SKIPPED])
        raise UsageError(
            f"no kata files (exNN_*.py or .ipynb) for any student in {work.root}{skipped}"
        )
    listed, not_graded = work.write_skipped()
    if not_graded:
        print(f"{len(not_graded)} not graded (all in {listed}):", file=sys.stderr)
        for line in not_graded[:SHOWN_SKIPPED]:
            print(f"  {line}", file=sys.stderr)
        if len(not_graded) > SHOWN_SKIPPED:
            print(f"  and {len(not_graded) - SHOWN_SKIPPED} more", file=sys.stderr)
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
    rows = work.rows()
    table, page = work.write_reports(rows)
    print(f"{len(rows)} grades in {table}; the class report in {page}")
    print(f"one JSON per student in {work.out}, and a feedback page each in {page.parent}/feedback")
    if work.course is not None:
        print(f"{work.write_gradebook()} notebooks' scores written to {work.course}/gradebook.db")
        assignments = " ".join(sorted({job.assignment for job in work.jobs}))
        print(
            f"nbgrader's own feedback pages need its autograde first, in {work.course}: "
            f"for a in {assignments}; do nbgrader autograde $a && nbgrader generate_feedback $a; "
            "done"
        )
    print(report.summary(rows))
    return EXIT_PASSED
