"""Grading a learner's file: read it (Python, or a notebook's code), grade it, remember it.

Every learner command (grade, watch, solution, the notebook magics) grades through here; the
judge is imported on first use, so that a worker started before it warms up meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import import_judge, notebooks, progress
from .catalog import Kata
from .lanes import Lane
from .results import Result
from .workspace import Workspace


class UnreadableFile(ValueError):
    """A file given to grade that is not Python source nor a notebook: a usage error."""


@dataclass(frozen=True)
class Source:
    """Code to grade, where it came from, and why it cannot run ('' when it can)."""

    code: str
    filename: str
    problem: str = ""
    note: str = ""  # e.g. that a notebook's cells were taken in order


def read(path: Path) -> Source:
    """A file's code to grade: a .py file as it is, a notebook's solution cell (or all its
    code cells, with a note saying so). A notebook that is not one raises UnreadableFile."""
    text, problem = import_judge().read_submission(path)
    if problem or path.suffix.lower() != ".ipynb":
        return Source(text, str(path), problem)
    try:
        code, where = notebooks.code_of(text)
    except notebooks.NotANotebook as exc:
        raise UnreadableFile(f"{path} is not a Jupyter notebook: {exc}") from None
    note = "" if where == "the notebook's solution cell" else f"graded: {where}"
    return Source(code, str(path), note=note)


def grade_file(
    kata: Kata,
    path: Path,
    lane: Lane,
    *,
    seed: int | None = None,
    workspace: Workspace | None = None,
) -> Result:
    """Grade one file; a grade of the workspace's own exercise file is remembered."""
    source = read(path)
    result = import_judge().grade_source(
        kata, source.code, source.filename, problem=source.problem, seed=seed, lane=lane
    )
    result.note = source.note
    if workspace is not None and path.resolve() == workspace.exercise_path(kata).resolve():
        progress.record(workspace, kata, result)
    return result
