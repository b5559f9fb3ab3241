"""The `grade` command: a learner's commands here, an instructor's in grader/classroom/.

The worker is started before torch and pytest are imported here, so its own torch import
overlaps ours: on two cores a grading run costs little more than one `import torch`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import catalog, grading, progress, workspace
from .catalog import Kata, NoStub, UnknownKata
from .lanes import Lane
from .reporters import console, overview, overview_document, report, write_json
from .results import Result
from .sandbox import Limits
from .usage import EXIT_NOT_PASSED, EXIT_PASSED, EXIT_USAGE, UsageError
from .workspace import Workspace

LEARNER_COMMANDS = ("init", "list", "hint", "watch", "reset", "solution")
# commands that are modules of their own, each with main(argv) -> exit status
COMMAND_MODULES = {
    "notebook": "grader.jupyter",
    "batch": "grader.classroom.batch",
    "nbgrader": "grader.classroom.course",
    "gradescope": "grader.classroom.gradescope",
}
USAGE = """\
  grade exNN [--file PATH] [--json]   grade one kata (also: grade 5, grade manual_sgd);
                                      --file takes any .py file or .ipynb notebook
  grade                               every kata: a table, your total, what is next
  grade watch [exNN]                  re-grade the current kata on every save
  grade list [--json]                 the katas, their concepts and your status
  grade hint exNN [--all]             the next hint (--all: every hint shown so far)
  grade reset exNN [--yes]            the pristine stub back, your file backed up first
  grade solution exNN [--force]       the reference, once your file passes
  grade init [DIR] [--force] [--git]  a workspace of your own: exercises/ with every stub
  grade notebook [DIR] [--katas ...]  self-study notebooks (in Jupyter: %load_ext grader)
for instructors:
  grade batch DIR                     a whole class: scores.csv, per-student JSON, a report
  grade nbgrader build DIR            an nbgrader course graded by this judge
  grade gradescope build [-o ZIP]     a Gradescope autograder
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade PyTorch katas with hidden checks.",
        usage="grade [command | kata] [options]",
        epilog=f"commands:\n{USAGE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", nargs="?", help="a kata (ex05, 5, manual_sgd) or a command")
    parser.add_argument("argument", nargs="?", help="the kata (or init's directory)")
    parser.add_argument("--file", type=Path, help="grade this file instead of exercises/exNN_*.py")
    parser.add_argument("--json", action="store_true", help="print only a result document")
    parser.add_argument("--seed", type=int, help="replay a run's random inputs")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        default=Limits.check_seconds,
        help="time limit per check (default %(default)s)",
    )
    parser.add_argument("--workspace", type=Path, help="the workspace (default: found upwards)")
    parser.add_argument("--yes", action="store_true", help="reset without asking")
    parser.add_argument("--force", action="store_true", help="solution before passing; init over")
    parser.add_argument("--all", action="store_true", help="hint: every hint shown so far")
    parser.add_argument("--git", action="store_true", help="init: make the workspace a git repo")
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


def _workspace(args: argparse.Namespace) -> Workspace:
    try:
        found = workspace.find(explicit=args.workspace)
    except workspace.NoWorkspace as exc:
        raise UsageError(str(exc)) from None
    note = found.made_by_another_version()
    if note:
        print(f"note: {note}", file=sys.stderr)
    return found


def _grade_one(kata: Kata, path: Path, args: argparse.Namespace, place: Workspace | None) -> int:
    lane = _start_lane(args, kata)
    try:
        with _stdout_to_stderr() if args.json else contextlib.nullcontext():
            result = grading.grade_file(kata, path, lane, seed=args.seed, workspace=place)
    except grading.UnreadableFile as exc:
        raise UsageError(str(exc)) from None
    finally:
        lane.close()
    if args.json:
        write_json(result.to_gradescope())
    else:
        console().print(report(result, kata))
    return EXIT_PASSED if result.passed else EXIT_NOT_PASSED


def _grade_kata(lane: Lane, item: tuple[Kata, Path, int | None]) -> tuple[Kata, Result]:
    """In a grading process: one kata of the learner's."""
    kata, path, seed = item
    return kata, grading.grade_file(kata, path, lane, seed=seed)


def plan(katas: Iterable[Kata], took: dict[str, float]) -> list[Kata]:
    """The order to grade all katas in: those that need no preload first (their lanes are
    ready a second sooner); within each group the longest first, as `took` (seconds by kata
    id) says (else later katas, which are longer), so that the cores finish together."""
    return sorted(
        katas, key=lambda kata: (bool(kata.worker_imports), -took.get(kata.id, 0.0), -kata.number)
    )


def _grade_all(args: argparse.Namespace, place: Workspace) -> int:
    from rich.progress import Progress

    from . import parallel

    katas = catalog.katas()
    todo = [
        (k, place.exercise_path(k), args.seed) for k in plan(katas, progress.last_seconds(place))
    ]
    results: dict[str, Result] = {}
    quiet = _stdout_to_stderr() if args.json else contextlib.nullcontext()
    with quiet, Progress(console=console(sys.stderr), transient=True) as bar:
        task = bar.add_task("grading", total=len(katas))
        graded = parallel.imap_unordered(
            _grade_kata,
            todo,
            _limits(args),
            parallel.default_processes(),
            preload=catalog.worker_imports(katas),
            checks=katas,
        )
        for kata, result in graded:
            progress.record(place, kata, result)
            results[kata.id] = result
            bar.update(task, advance=1, description=f"graded {kata.id}")
    ordered = [results[kata.id] for kata in katas]
    if args.json:
        write_json([r.to_gradescope() for r in ordered])
    else:
        rows = progress.overview_rows(place)
        console().print(overview(rows, progress.first_unpassed(place)))
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


def _init(args: argparse.Namespace) -> int:
    target = Path(args.argument or "torch-katas")
    try:
        made, backups = workspace.create(target, force=args.force, git=args.git)
    except (workspace.WorkspaceExists, NoStub) as exc:
        raise UsageError(str(exc)) from None
    for saved in backups:
        print(f"kept your earlier file as {saved}")
    print(f"a workspace in {made.root}: {len(catalog.katas())} katas in {made.exercises}")
    print(f"next: cd {target} && grade watch")
    return EXIT_PASSED


def _reset(kata: Kata, args: argparse.Namespace, place: Workspace) -> int:
    path = place.exercise_path(kata)
    if not args.yes:
        print(
            f"Replace {path} with the original stub? Your file is backed up first. [y/N] ",
            end="",
            flush=True,
        )
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing changed.")
            return EXIT_NOT_PASSED
    try:
        backup = progress.reset(place, kata)
    except NoStub as exc:
        raise UsageError(str(exc)) from None
    kept = f"; your file is kept in {backup}" if backup else ""
    print(f"{path.name} is the original stub again{kept}")
    return EXIT_PASSED


def _solution(kata: Kata, args: argparse.Namespace, place: Workspace) -> int:
    if args.force:
        print(f"(--force: the reference for {kata.id}, before you passed it)", file=sys.stderr)
    else:
        lane = _start_lane(args, kata)
        try:
            result = grading.grade_file(kata, place.exercise_path(kata), lane, workspace=place)
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


def _learner_command(command: str, args: argparse.Namespace) -> int:
    if command == "init":
        return _init(args)
    place = _workspace(args)
    if command == "list":
        rows = progress.overview_rows(place)
        if args.json:
            write_json(overview_document(rows, progress.first_unpassed(place)))
        else:
            console().print(overview(rows, progress.first_unpassed(place), concepts=True))
        return EXIT_PASSED
    if command == "watch":
        from .watch import watch

        start = _kata(args.argument, command) if args.argument else progress.first_unpassed(place)
        return watch(start, _start_lane(args, start), place)
    kata = _kata(args.argument, command)
    if command == "hint":
        hints = progress.shown_hints if args.all else progress.next_hint
        print(hints(place, kata))
        return EXIT_PASSED
    if command == "reset":
        return _reset(kata, args, place)
    return _solution(kata, args, place)


def run(argv: list[str]) -> int:
    if argv[:1] and argv[0] in COMMAND_MODULES:
        return importlib.import_module(COMMAND_MODULES[argv[0]]).main(argv[1:])
    args = _parser().parse_args(argv)
    command = args.target if args.target in LEARNER_COMMANDS else None
    if command is not None:
        return _learner_command(command, args)
    if args.argument is not None:
        raise UsageError(f"unexpected argument {args.argument!r}")
    kata = _kata(args.target, "") if args.target else None
    if args.file is not None:
        if kata is None:
            raise UsageError("--file needs an exercise: `grade ex05 --file PATH`")
        if not args.file.is_file():
            raise UsageError(f"cannot read {args.file}: no such file")
        try:
            place = workspace.find(explicit=args.workspace)
        except workspace.NoWorkspace:
            place = None  # any file anywhere: graded, nothing remembered
        return _grade_one(kata, args.file, args, place)
    place = _workspace(args)
    if kata is None:
        return _grade_all(args, place)
    return _grade_one(kata, place.exercise_path(kata), args, place)


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
