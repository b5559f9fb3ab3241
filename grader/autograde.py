"""`nbgrader autograde` with torch-katas' judge in place of the student's kernel.

nbgrader normally executes the whole submitted notebook in a kernel and scores
each test cell by whether it raised. The student's code runs in that same kernel,
so it can patch torch.allclose, add cells, rewrite the test cells' input or read
the course's source/ folder. Here no kernel runs: JudgeSolutions takes the code
of the notebook's solution cell, grades it with the same sandboxed judge as
`grade --file`, and writes each check's verdict as the output of its test cell.
nbgrader's own SaveAutoGrades then reads those outputs into the gradebook, and
generate_feedback shows our diagnosis (never the hidden tests' source).
"""

from __future__ import annotations

import atexit
from typing import Any

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    SaveAutoGrades,
)
from traitlets import Float, Integer
from traitlets.config import Config

from . import catalog, judge
from .lanes import Lane
from .notebooks import solution_code
from .results import CheckResult, Result
from .sandbox import Limits

_lanes: dict[float, Lane] = {}


def _lane(check_seconds: float) -> Lane:
    """One warm worker per autograde run (torch imported once); it sees nothing of the course."""
    if check_seconds not in _lanes:
        _lanes[check_seconds] = Lane(Limits(check_seconds=check_seconds))
        atexit.register(_lanes[check_seconds].close)
    return _lanes[check_seconds]


def _verdict(check: CheckResult | None, why_missing: str) -> dict[str, Any]:
    if check is None:
        return {
            "output_type": "error",
            "ename": "NotGraded",
            "evalue": why_missing,
            "traceback": [f"not graded: {why_missing}"],
        }
    if check.passed:
        text = f"passed: {check.name} ({check.score:g}/{check.max_score:g})\n"
        return {"output_type": "stream", "name": "stdout", "text": text}
    message = f"{check.name}: {check.output}"
    return {
        "output_type": "error",
        "ename": "CheckFailed",
        "evalue": message,
        "traceback": [f"failed ({check.score:g}/{check.max_score:g}): {message}"],
    }


def _summary(result: Result) -> dict[str, Any]:
    text = (
        f"Graded by torch-katas' judge ({result.sandbox}): {result.summary()}\n"
        "Only this cell's code was graded; each check's verdict is under its cell.\n"
    )
    return {"output_type": "stream", "name": "stdout", "text": text}


class JudgeSolutions(NbGraderPreprocessor):
    """Grades the solution cell with the out-of-process judge; replaces nbgrader's Execute."""

    seed = Integer(
        None, allow_none=True, help="the random seed for every notebook (default: a fresh one)"
    ).tag(config=True)
    check_seconds = Float(Limits.check_seconds, help="time limit per check").tag(config=True)

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        kata = catalog.find(resources["nbgrader"]["notebook"])
        result = judge.grade_source(
            kata,
            solution_code(nb),
            f"{kata.name}.py",
            seed=self.seed,
            lane=_lane(self.check_seconds),
        )
        by_id = {check.check: check for check in result.checks}
        for cell in nb.cells:
            if utils.is_grade(cell) and cell.cell_type == "code":
                grade_id = cell.metadata.nbgrader["grade_id"]
                verdict = _verdict(by_id.get(grade_id), f"{grade_id} is not a check of {kata.id}")
                cell.outputs = [from_dict(verdict)]
            elif cell.cell_type == "code" and utils.is_solution(cell):
                cell.outputs = [from_dict(_summary(result))]
        self.log.info("%s: %s", resources["nbgrader"]["student"], result.summary())
        return nb, resources


def configure(c: Config) -> None:
    """Point an nbgrader config at our judge (called from the course's nbgrader_config.py)."""
    c.Autograde.autograde_preprocessors = [
        JudgeSolutions,  # instead of Execute: the student's kernel never runs
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    # feedback shows each check's verdict, never the hidden tests' source
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    # the release keeps the stub as it is; the reference's region leaves nothing behind
    c.ClearSolutions.code_stub = {"python": ""}
