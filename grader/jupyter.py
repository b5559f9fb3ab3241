"""Katas in a notebook: `%load_ext grader`, then `%%grade exNN` grades a cell's code.

A cell is graded as `grade exNN` grades a file: by the same judge, in the same sandboxed
worker, out of process. The kernel never runs the cell, so a cell that hangs, exits or patches
torch costs its checks, never the kernel. One worker serves the kernel: it starts when the
extension loads, so that it warms up while the learner reads, and ends with the kernel. The
report is an HTML table in a notebook (Jupyter, Colab) and the CLI's text elsewhere. Inside a
workspace (found upwards from the kernel's directory) grades and hint levels are kept as the
CLI keeps them; elsewhere (a notebook uploaded to Colab) in a workspace of the kernel's own, in
a temporary directory that goes with the kernel. Nothing here needs a terminal.

`grade notebook [DIR]` writes a self-study notebook per kata: the stub's teaching text, the
stub in a `%%grade exNN` cell, and a hint cell.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import html
import io
import json
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from . import __version__, catalog, grading, import_judge, progress, reporters, workspace
from .catalog import Kata, NoStub, UnknownKata
from .lanes import Lane
from .notebooks import docstring_and_code
from .results import CheckResult, Result
from .sandbox import Limits
from .usage import EXIT_PASSED, UsageError
from .workspace import Workspace

CELL = "<cell>"  # what a graded cell is called: in the learner's tracebacks and in the report
TEXT_WIDTH = 100  # columns of the plain-text report

_worker: Lane | None = None  # the kernel's one worker, for every kata


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext grader`: the magics, and the worker started (it warms up meanwhile)."""
    global _worker
    if _worker is None:
        _worker = Lane(Limits())
        _worker.start()
        atexit.register(_worker.close)
    ipython.register_magic_function(grade_magic, "line_cell", "grade")
    ipython.register_magic_function(hint_magic, "line", "grade_hint")
    place = _workspace()
    kept = (
        f"your progress is kept in {place.root}"
        if place
        else "no torch-katas workspace here, so your progress lasts as long as this kernel"
    )
    print(
        "torch-katas: `%%grade exNN` on a cell's first line grades the cell, "
        f"`%grade_hint exNN` gives a hint; {kept}."
    )
    if place and place.made_by_another_version():
        print(f"note: {place.made_by_another_version()}")


class _MagicArguments(argparse.ArgumentParser):
    def __init__(self, magic: str) -> None:
        super().__init__(prog=magic, add_help=False)

    def error(self, message: str) -> NoReturn:  # shown as one line; the kernel goes on
        raise _usage(message)

    def read(self, line: str) -> argparse.Namespace:
        try:
            return self.parse_args(shlex.split(line))
        except ValueError as exc:  # an unclosed quote
            raise _usage(f"{self.prog} {line}: {exc}") from None


def _usage(message: str) -> Exception:
    """IPython's UsageError: a magic's mistake, shown in one line without a traceback."""
    from IPython.core.error import UsageError as MagicUsageError

    return MagicUsageError(message)


def _kata(query: str, magic: str) -> Kata:
    if not query.strip():
        raise _usage(f"name an exercise, e.g. `{magic} ex05`")
    try:
        return catalog.find(query)
    except UnknownKata as exc:
        raise _usage(str(exc)) from None


def _workspace() -> Workspace | None:
    """The workspace the kernel works in, found upwards from its directory; None if none."""
    try:
        return workspace.find()
    except workspace.NoWorkspace:
        return None


@functools.cache
def _kernel_workspace() -> Workspace:
    """A workspace of the kernel's own, with no exercises/: its progress (the cells' grades,
    the hints shown) in a temporary directory, removed when the kernel ends."""
    root = tempfile.mkdtemp(prefix="katas-kernel-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return Workspace(Path(root), __version__, {})


def _lane() -> Lane:
    assert _worker is not None, "the magics are registered with the worker"
    return _worker


@contextlib.contextmanager
def _kernel_torch_kept() -> Iterator[None]:
    """The judge runs in the kernel, on one thread, seeding torch's generator: the learner's
    own work in the kernel keeps its threads and its random state."""
    import torch  # imported by the judge already: the judge is imported first

    threads, state = torch.get_num_threads(), torch.get_rng_state()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(state)


def grade_magic(line: str, cell: str | None = None) -> None:
    """`%%grade exNN [--seed N]` grades the cell; `%grade exNN [-f FILE] [--seed N]` grades a
    file (without -f: the workspace's exercise file)."""
    parser = _MagicArguments("%grade")
    parser.add_argument("kata", nargs="?", default="")
    parser.add_argument("-f", "--file", type=Path)
    parser.add_argument("--seed", type=int)
    args = parser.read(line)
    kata = _kata(args.kata, "%%grade")
    if cell is not None and args.file is not None:
        raise _usage("%%grade grades its cell: `%grade exNN -f FILE` on a line of its own")
    place = _workspace()
    judge = import_judge()
    with _kernel_torch_kept():
        if cell is None:
            result = _grade_file(kata, args.file, args.seed, place)
        else:
            code = "\n" + cell  # line 1 is %%grade's: the code keeps the cell's line numbers
            result = judge.grade_source(kata, code, CELL, seed=args.seed, lane=_lane())
            progress.record_cell(place or _kernel_workspace(), kata, result, code)
    from IPython.display import display

    display(Report(result, kata))


def _grade_file(kata: Kata, path: Path | None, seed: int | None, place: Workspace | None) -> Result:
    if path is None:
        if place is None:
            raise _usage(
                f"no torch-katas workspace here to grade exercises/{kata.filename} from: "
                f"start a cell with `%%grade {kata.id}` to grade the cell, or name a file "
                f"with `%grade {kata.id} -f FILE`"
            )
        path = place.exercise_path(kata)
    if not path.is_file():
        raise _usage(f"cannot read {path}: no such file")
    try:
        return grading.grade_file(kata, path, _lane(), seed=seed, workspace=place)
    except grading.UnreadableFile as exc:
        raise _usage(str(exc)) from None


def hint_magic(line: str) -> None:
    """`%grade_hint exNN [--all]`: the kata's next hint (about the last grade's first mistake
    if a hint speaks to it), one more each time; --all: every hint shown so far."""
    parser = _MagicArguments("%grade_hint")
    parser.add_argument("kata", nargs="?", default="")
    parser.add_argument("--all", action="store_true")
    args = parser.read(line)
    kata = _kata(args.kata, "%grade_hint")
    hints = progress.shown_hints if args.all else progress.next_hint
    print(hints(_workspace() or _kernel_workspace(), kata))


class Report:
    """A result as a notebook shows it (an HTML table) and as anything else shows it (the
    CLI's report, as plain text)."""

    def __init__(self, result: Result, kata: Kata) -> None:
        self.result, self.kata = result, kata

    def text(self) -> str:
        buffer = io.StringIO()
        # force_jupyter=False: in a kernel, rich would display the report itself
        out = Console(
            file=buffer,
            width=TEXT_WIDTH,
            force_jupyter=False,
            color_system=None,
            highlight=False,
        )
        out.print(reporters.report(self.result, self.kata))
        return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        return html_report(self.result, self.kata)


REPORT_COLUMNS = ("check", "points", "status", "text")
CELL_STYLE = "text-align:left;vertical-align:top;padding:2px 8px"
WRAPPED = "white-space:pre-wrap;overflow-wrap:anywhere"  # the texts' own lines, long ones wrapped
STATUS_COLOUR = {"passed": "green", "failed": "#d22", "not run": "gray"}


def _status(check: CheckResult) -> str:
    if check.passed:
        return "passed"
    return "not run" if check.not_run else "failed"


def html_report(result: Result, kata: Kata) -> str:
    """The report as HTML: every check's points, status and text (Result.texts())."""
    e = html.escape
    parts = [
        f"<div><b>{e(kata.id)}</b> {e(kata.title)}</div>",
        f'<div style="opacity:0.7">{e(result.file)} · seed {result.seed} · '
        f"sandbox: {e(result.sandbox)}</div>",
    ]
    if result.problem:
        parts.append(f'<div style="color:#d22;{WRAPPED}">{e(result.problem)}</div>')
    if result.note:
        parts.append(f'<div style="opacity:0.7">({e(result.note)})</div>')
    header = "".join(f'<th style="{CELL_STYLE}">{name}</th>' for name in REPORT_COLUMNS)
    rows = [f"<tr>{header}</tr>"]
    for check, text in zip(result.checks, result.texts(), strict=True):
        status = _status(check)
        rows.append(
            "<tr>"
            f'<td style="{CELL_STYLE};{WRAPPED};min-width:14em">{e(check.name)}</td>'
            f'<td style="{CELL_STYLE}">{check.score:g}/{check.max_score:g}</td>'
            f'<td style="{CELL_STYLE};color:{STATUS_COLOUR[status]}">{status}</td>'
            f'<td style="{CELL_STYLE};{WRAPPED};min-width:20em">{e(text)}</td>'
            "</tr>"
        )
    parts.append(f'<table style="border-collapse:collapse">{"".join(rows)}</table>')
    total = f"{result.score:g}/{result.max_score:g}"
    if result.passed:
        parts.append(f'<div style="color:green"><b>All checks pass: {total} points.</b></div>')
    else:
        parts.append(
            f"<div>Score <b>{total}</b>. Stuck? <code>%grade_hint {kata.id}</code> gives a "
            f"hint; replay these inputs with <code>%%grade {kata.id} --seed {result.seed}"
            "</code>.</div>"
        )
    return "\n".join(parts)


SETUP = """\
# In Colab or a fresh environment, install the grader first: uncomment the pip line and put
# in where your copy of torch-katas is (a git URL, or a folder). Colab has torch already;
# elsewhere install it first: pip install torch==2.13.0
# !pip install -q "torch-katas @ git+https://github.com/OWNER/torch-katas"
%load_ext grader
"""
HOW = """\
Write your code in the next cell, below its first line `%%grade {id}`, keeping the names and
signatures. Running the cell grades it: hidden checks run your code on fresh random inputs, in
a separate sandboxed process, so the cell defines nothing in this notebook. The cell after it
gives a hint, one more each time you run it."""


def _cell(kind: str, cell_id: str, text: str) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": cell_id,
        "metadata": {},
        "source": text.rstrip("\n").splitlines(keepends=True),
    }
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def kata_notebook(kata: Kata) -> dict[str, Any]:
    """A kata's self-study notebook, as nbformat 4 JSON."""
    doc, stub = docstring_and_code(kata.stub_text())
    title, _, rest = doc.partition("\n")
    teaching = f"# {title}\n\n{rest.strip()}\n\n{HOW.format(id=kata.id)}"
    return {
        "cells": [
            _cell("code", f"{kata.id}-setup", SETUP),
            _cell("markdown", f"{kata.id}-text", teaching),
            _cell("code", f"{kata.id}-solution", f"%%grade {kata.id}\n{stub}"),
            _cell("code", f"{kata.id}-hint", f"%grade_hint {kata.id}"),
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebooks(folder: Path, katas: list[Kata]) -> tuple[list[Path], list[Path]]:
    """A notebook per kata in `folder`: the paths written, and those kept because they were
    there already (a learner's notebook is never replaced)."""
    made = {kata: kata_notebook(kata) for kata in katas}  # every stub read before writing any
    folder.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for kata, notebook in made.items():
        path = folder / f"{kata.name}.ipynb"
        if path.exists():
            kept.append(path)
            continue
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
    return written, kept


def _home(directory: Path | None) -> Path:
    """The workspace whose notebooks/ gets the notebooks: the one at or above `directory` (or
    the current directory), else a new one in `directory` (or ./torch-katas)."""
    if directory is None:
        with contextlib.suppress(workspace.NoWorkspace):
            return workspace.find().root
        directory = Path("torch-katas")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    with contextlib.suppress(workspace.NoWorkspace):
        return workspace.find(directory).root
    try:
        made, _ = workspace.create(directory)
    except workspace.WorkspaceExists:
        raise UsageError(
            f"{directory} is not empty and not in a torch-katas workspace: name a new "
            f"directory, or make this one a workspace first with `grade init {directory} --force`"
        ) from None
    print(f"a workspace in {made.root}: your progress is kept there (exercises/ has the files)")
    return made.root


def main(argv: list[str]) -> int:
    """`grade notebook [DIR] [--katas ex01-ex05]`."""
    parser = argparse.ArgumentParser(
        prog="grade notebook",
        description="Write a self-study notebook per kata (Jupyter or Colab): each kata's "
        "text, its stub in a cell that `%%grade exNN` grades, and a hint cell.",
    )
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        help="the workspace, whose notebooks/ gets them: DIR is made one unless it is in one "
        "(default: the workspace here, else a new one in ./torch-katas)",
    )
    parser.add_argument("--katas", help="e.g. ex01-ex05 or ex01,ex03 (default: all)")
    args = parser.parse_args(argv)
    try:
        katas = catalog.select(args.katas)
        folder = _home(args.directory) / "notebooks"
        written, kept = write_notebooks(folder, katas)
    except (UnknownKata, NoStub) as exc:
        raise UsageError(str(exc)) from None
    for path in kept:
        print(f"kept your {path.name} (delete it for a fresh one)")
    print(f"{len(written)} notebook{'s' * (len(written) != 1)} written in {folder}")
    print("next: open one in Jupyter (the first cell loads the grader), or upload it to Colab")
    return EXIT_PASSED
