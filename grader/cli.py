"""The `grade` command.

    grade ex05 [--file PATH] [--json] [--seed N]   grade one kata (also 5, ex5, manual_sgd)
    grade                                          grade every kata: table, total, what is next
    grade list                                     the katas and their status
    grade hint ex05                                the next hint for a kata
    grade watch [ex05]                             re-grade the current kata on every save
    grade reset ex05 [--yes]                       restore the stub, keeping a backup
    grade solution ex05 [--force]                  the reference, once the kata passes
    grade nbgrader build COURSE_DIR [--katas ex01-ex05] [--assignment NAME]
                                                   an nbgrader course of the katas
    grade batch SUBMISSIONS_DIR [--out DIR] [--jobs N]
                                                   a whole class, on all cores

The worker is started before torch and pytest are imported here, so its own
torch import overlaps ours: on two cores a grading run costs little more than
one `import torch`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from . import catalog, import_judge, progress
from .catalog import Kata, UnknownKata
from .lanes import Lane
from .reporters import console, overview, report, write_json
from .results import Result
from .sandbox import Limits

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("list", "hint", "watch", "reset", "solution")


class UsageError(Exception):
    """A mistake in how `grade` was called: one line on stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade PyTorch katas with hidden checks.",
        epilog=f"Commands: {', '.join(COMMANDS)} (e.g. `grade hint ex05`).",
    )
    parser.add_argument("target", nargs="?", help="a kata (ex05, 5, manual_sgd) or a command")
    parser.add_argument("argument", nargs="?", help="the kata for hint, watch, reset, solution")
    parser.add_argument("--file", type=Path, help="grade this file instead of exercises/exNN_*.py")
    parser.add_argument("--json", action="store_true", help="print only the result document")
    parser.add_argument("--seed", type=int, help="replay a run's random inputs")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        default=Limits.check_seconds,
        help="time limit per check (default %(default)s)",
    )
    parser.add_argument("--yes", action="store_true", help="reset without asking")
    parser.add_argument("--force", action="store_true", help="show a solution before passing")
    return parser


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Under --json nothing but the document may reach stdout, whatever runs meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def grade_file(kata: Kata, path: Path, lane: Lane, seed: int | None = None) -> Result:
    """Grade one file; a grade of the learner's own exercise file is remembered."""
    result = import_judge().grade(kata, path, seed=seed, lane=lane)
    if path == kata.exercise_path:
        progress.record(kata, result)
    return result


def _grade_one(kata: Kata, path: Path, args: argparse.Namespace, lane: Lane) -> int:
    with _stdout_to_stderr() if args.json else contextlib.nullcontext():
        result = grade_file(kata, path, lane, args.seed)
    if args.json:
        write_json(result.to_gradescope())
    else:
        console().print(report(result, kata))
    return EXIT_PASSED if result.passed else EXIT_NOT_PASSED


def _grade_kata(lane: Lane, item: tuple[Kata, int | None]) -> tuple[Kata, Result]:
    """In a grading process: one kata of the learner's."""
    from .judge import grade

    kata, seed = item
    return kata, grade(kata, kata.exercise_path, seed=seed, lane=lane)


def _grade_all(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from . import parallel

    katas = catalog.katas()
    results: dict[str, Result] = {}
    quiet = _stdout_to_stderr() if args.json else contextlib.nullcontext()
    with quiet, Progress(console=console(sys.stderr), transient=True) as bar:
        task = bar.add_task("grading", total=len(katas))
        # katas that need no preload first: their lanes are ready a second sooner; then
        # the others, later (longer) katas first, so that the cores finish together
        plan = sorted(katas, key=lambda kata: (bool(kata.worker_imports), -kata.number))
        graded = parallel.imap_unordered(
            _grade_kata,
            [(kata, args.seed) for kata in plan],
            _limits(args),
            parallel.default_processes(),
            preload=catalog.worker_imports(katas),
        )
        for kata, result in graded:
            progress.record(kata, result)
            results[kata.id] = result
            bar.update(task, advance=1, description=f"graded {kata.id}")
    ordered = [results[kata.id] for kata in katas]
    if args.json:
        write_json([r.to_gradescope() for r in ordered])
    else:
        console().print(overview(progress.overview_rows(), progress.first_unpassed()))
    return EXIT_PASSED if all(r.passed for r in ordered) else EXIT_NOT_PASSED


def _kata(query: str | None, command: str) -> Kata:
    if not query:
        raise UsageError(f"name an exercise, e.g. `grade {command} ex05`")
    try:
        return catalog.find(query)
    except UnknownKata as exc:
        raise UsageError(str(exc)) from None


def _limits(args: argparse.Namespace) -> Limits:
    if args.time_limit <= 0:
        raise UsageError("--time-limit must be positive")
    return Limits(check_seconds=args.time_limit)


def _start_lane(args: argparse.Namespace, kata: Kata | None) -> Lane:
    lane = Lane(_limits(args), preload=kata.worker_imports if kata else ())
    lane.start()  # the worker warms up while this process imports torch and pytest
    return lane


def _reset(kata: Kata, args: argparse.Namespace) -> int:
    if not args.yes:
        print(
            f"Replace {kata.exercise_path} with the original stub? "
            "Your file is backed up first. [y/N] ",
            end="",
            flush=True,
        )
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing changed.")
            return EXIT_NOT_PASSED
    try:
        backup = progress.reset(kata)
    except progress.NoStub as exc:
        raise UsageError(str(exc)) from None
    kept = f"; your file is kept in {backup}" if backup else ""
    print(f"{kata.exercise_path.name} is the original stub again{kept}")
    return EXIT_PASSED


def _solution(kata: Kata, args: argparse.Namespace) -> int:
    if args.force:
        print(f"(--force: the reference for {kata.id}, before you passed it)", file=sys.stderr)
    else:
        lane = _start_lane(args, kata)
        try:
            result = grade_file(kata, kata.exercise_path, lane)
        finally:
            lane.close()
        if not result.passed:
            print(
                f"{kata.id} does not pass yet ({result.score:g}/{result.max_score:g}): the "
                f"reference is shown once it does. `grade hint {kata.id}` helps; "
                "`--force` shows it anyway."
            )
            return EXIT_NOT_PASSED
    print(kata.solution_path.read_text(encoding="utf-8"), end="")
    return EXIT_PASSED


def _nbgrader(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade nbgrader",
        description="Build an nbgrader course whose autograding uses torch-katas' judge.",
    )
    parser.add_argument("action", choices=["build"])
    parser.add_argument("course_dir", type=Path, help="the course directory (made if missing)")
    parser.add_argument("--katas", help="e.g. ex01-ex05 or ex01,ex03 (default: all)")
    parser.add_argument("--assignment", default="katas", help="default: %(default)s")
    args = parser.parse_args(argv)
    from . import notebooks

    try:
        katas = notebooks.select_katas(args.katas)
        written = notebooks.build_course(args.course_dir, katas, args.assignment)
    except (notebooks.BuildError, UnknownKata) as exc:
        raise UsageError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise UsageError(f"{exc.name} is missing: pip install 'torch-katas[nbgrader]'") from None
    config = args.course_dir / "nbgrader_config.py"
    if "grader.autograde" not in config.read_text(encoding="utf-8"):
        print(
            f"warning: {config} was kept and does not call grader.autograde.configure(c): "
            "autograding would run in the students' kernels",
            file=sys.stderr,
        )
    print(f"{len(written)} notebooks in {written[0].parent}; config in {config}")
    print(f"next, in {args.course_dir}: nbgrader generate_assignment {args.assignment}")
    return EXIT_PASSED


def _batch(argv: list[str]) -> int:
    from . import batch, parallel

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
    work = batch.Batch(args.submissions, out)
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


def run(argv: list[str]) -> int:
    if argv[:1] == ["nbgrader"]:
        return _nbgrader(argv[1:])
    if argv[:1] == ["batch"]:
        return _batch(argv[1:])
    args = _parser().parse_args(argv)
    command = args.target if args.target in COMMANDS else None
    if command is None and args.argument is not None:
        raise UsageError(f"unexpected argument {args.argument!r}")
    if command == "list":
        rows = progress.overview_rows()
        console().print(overview(rows, progress.first_unpassed(), concepts=True))
        return EXIT_PASSED
    if command == "hint":
        print(progress.next_hint(_kata(args.argument, command)))
        return EXIT_PASSED
    if command == "reset":
        return _reset(_kata(args.argument, command), args)
    if command == "solution":
        return _solution(_kata(args.argument, command), args)
    if command == "watch":
        from .watch import watch

        start = _kata(args.argument, command) if args.argument else progress.first_unpassed()
        return watch(start, _start_lane(args, start))
    kata = _kata(args.target, "") if args.target else None
    if args.file is not None:
        if kata is None:
            raise UsageError("--file needs an exercise: `grade ex05 --file PATH`")
        if not args.file.is_file():
            raise UsageError(f"cannot read {args.file}: no such file")
    if kata is None:
        return _grade_all(args)
    lane = _start_lane(args, kata)
    try:
        return _grade_one(kata, args.file or kata.exercise_path, args, lane)
    finally:
        lane.close()


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The console script: exit without tearing torch down (a few hundred ms), output flushed."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
