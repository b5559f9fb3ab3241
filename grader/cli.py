"""The `grade` command.

    grade ex05 [--file PATH] [--json] [--seed N]   grade one kata
    grade                                          grade every kata, then say what is next
    grade list                                     the katas and their status
    grade hint ex05                                the next hint for a kata

The worker is started before torch and pytest are imported here, so its own
torch import overlaps ours: on two cores a grading run costs little more than
one `import torch`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from . import catalog, progress
from .catalog import Kata, UnknownKata
from .reporters import Style, render, use_color, write_json
from .sandbox import Limits, Worker

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("list", "hint")


class UsageError(Exception):
    """A mistake in how `grade` was called: one line on stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade PyTorch katas with hidden checks.",
        epilog="Commands: `grade list`, `grade hint ex05`.",
    )
    parser.add_argument("target", nargs="?", help="a kata (ex05, 5, manual_sgd) or a command")
    parser.add_argument("argument", nargs="?", help="the kata for `hint`")
    parser.add_argument("--file", type=Path, help="grade this file instead of exercises/exNN_*.py")
    parser.add_argument("--json", action="store_true", help="print only the result document")
    parser.add_argument("--seed", type=int, help="replay a run's random inputs")
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="time limit per check (default %(default)s)",
        default=Limits.check_seconds,
    )
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


def _grade_one(kata: Kata, path: Path, args: argparse.Namespace, worker: Worker) -> int:
    from .judge import grade

    with _stdout_to_stderr() if args.json else contextlib.nullcontext():
        result = grade(kata, path, seed=args.seed, worker=worker)
    if args.json:
        write_json(result)
    else:
        print(render(result, kata, Style(use_color(sys.stdout))))
    if path == kata.exercise_path:
        progress.record(kata, result)
    return EXIT_PASSED if result.passed else EXIT_NOT_PASSED


def _grade_all(args: argparse.Namespace, worker: Worker) -> int:
    from .judge import grade

    style = Style(use_color(sys.stdout))
    results = []
    with _stdout_to_stderr() if args.json else contextlib.nullcontext():
        for kata in catalog.katas():
            if not args.json:
                print(style.dim(f"grading {kata.id} ..."), end="\r", flush=True)
            result = grade(kata, kata.exercise_path, seed=args.seed, worker=worker)
            progress.record(kata, result)
            results.append((kata, result))
    if args.json:
        print(json.dumps([r.to_gradescope() for _, r in results], indent=1))
    else:
        print(progress.table(results, style))
    return EXIT_PASSED if all(r.passed for _, r in results) else EXIT_NOT_PASSED


def _kata(query: str | None) -> Kata:
    if not query:
        raise UsageError("name an exercise, e.g. `grade hint ex05`")
    try:
        return catalog.find(query)
    except UnknownKata as exc:
        raise UsageError(str(exc)) from None


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.target == "list":
        print(progress.listing(Style(use_color(sys.stdout))))
        return EXIT_PASSED
    if args.target == "hint":
        print(progress.next_hint(_kata(args.argument)))
        return EXIT_PASSED
    if args.argument is not None:
        raise UsageError(f"unexpected argument {args.argument!r}")
    kata = _kata(args.target) if args.target else None
    if args.file is not None:
        if kata is None:
            raise UsageError("--file needs an exercise: `grade ex05 --file PATH`")
        if not args.file.is_file():
            raise UsageError(f"cannot read {args.file}: no such file")
    if args.time_limit <= 0:
        raise UsageError("--time-limit must be positive")
    worker = Worker(Limits(check_seconds=args.time_limit))
    worker.start()  # warms up while this process imports torch and pytest
    try:
        if kata is None:
            return _grade_all(args, worker)
        return _grade_one(kata, args.file or kata.exercise_path, args, worker)
    finally:
        worker.close()


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
