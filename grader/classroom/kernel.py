"""Runs one hidden check inside a Jupyter kernel, on the names the notebook defined there.

The test cells of a generated notebook call `run_check`. Only `nbgrader validate`
and an instructor trying the source notebook run them: the kernel is not
sandboxed and a student could patch anything in it, so autograding never uses
this path (grader.classroom.autograde grades the solution cell's code with the
out-of-process judge instead). The check itself is the same pytest check as
`grade` runs.
"""

from __future__ import annotations

import json
import time
import types
from typing import Any

from .. import judge
from ..catalog import find
from ..lanes import TaskOutcome
from ..sandbox import Limits
from ..worker import protocol, runner


class CheckFailed(AssertionError):
    """A hidden check failed; its message is the judge's diagnosis."""


class KernelLane:
    """Stands in for a lane of the sandboxed worker: runs each task on the kernel's own
    definitions."""

    protections = "the notebook's kernel (no sandbox)"

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.limits = Limits()
        self._module = types.ModuleType("notebook")
        self._module.__dict__.update(namespace)

    def run(
        self,
        source: str,
        filename: str,
        task: dict[str, Any],
        seconds: float,
        *,
        imports: tuple[str, ...] = (),
        run: str = "",
        seed: int | None = None,
    ) -> TaskOutcome:
        started = time.monotonic()
        answer = protocol.parse_answer(
            json.dumps(runner.answer(self._module, task, filename, seed))
        )
        return TaskOutcome(answer=answer, elapsed=time.monotonic() - started, loaded=True)

    def close(self) -> None:
        """Nothing to stop: the kernel is not ours."""


def run_check(kata: str, check: str, namespace: dict[str, Any]) -> None:
    """Run the hidden check `check` of `kata` on `namespace` (a notebook's globals()).

    Raises CheckFailed with the diagnosis when the check fails, as a test cell should.
    """
    # IPython's history: the solution cell's text is there, among the test cells that call us
    cells = [cell for cell in namespace.get("In") or [] if isinstance(cell, str)]
    source = "\n\n".join(cell for cell in cells if "run_check(" not in cell)
    result = judge.grade_source(
        find(kata), source, "<notebook>", lane=KernelLane(namespace), only=check
    )
    for outcome in result.checks:
        if not outcome.passed:
            raise CheckFailed(f"{outcome.name}: {outcome.output}")
        print(f"passed: {outcome.name} ({outcome.score:g}/{outcome.max_score:g})")
