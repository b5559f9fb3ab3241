"""The learner's progress, hint levels and backups, kept in the workspace's .grade/.

The state file only caches what grading found, with a fingerprint of the file
that was graded: a kata whose file changed since is "in progress" again, and a
score always comes from grading, never from this file. Deleting or editing it
loses nothing but the cache and the hint levels.

A kata can also be worked in a notebook (grader/jupyter.py): a graded cell's code is kept in
the state's "cells" section, and is the kata's submission while its exercise file is the
pristine stub. Once the file is edited, the file is the submission again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import Kata
from .results import Result, fingerprint
from .workspace import Workspace, backup


def _state_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "state.json"


def _load(workspace: Workspace) -> dict[str, Any]:
    try:
        state = json.loads(_state_file(workspace).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save(workspace: Workspace, state: dict[str, Any]) -> None:
    folder = workspace.state_dir
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False) as f:
        json.dump(state, f, indent=1)
    os.replace(f.name, _state_file(workspace))


def _section(state: dict[str, Any], name: str) -> dict[str, Any]:
    section = state.get(name)
    if not isinstance(section, dict):
        section = state[name] = {}
    return section


def _current_text(workspace: Workspace, kata: Kata) -> str | None:
    try:
        return workspace.exercise_path(kata).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _grade_entry(result: Result) -> dict[str, Any]:
    return {
        "score": result.score,
        "max_score": result.max_score,
        "fingerprint": result.fingerprint,
        # the misconceptions of the failing checks, in order: `grade hint` speaks to the first
        "mistakes": [tag for check in result.checks if not check.passed for tag in check.tags],
        "seconds": round(result.execution_time, 3),  # how long grading took: `grade` plans by it
    }


def _untouched(text: str | None, kata: Kata) -> bool:
    """The exercise file is missing or the pristine stub."""
    return text is None or catalog.digest(text) == kata.stub_sha256


def record(workspace: Workspace, kata: Kata, result: Result) -> None:
    """Remember a grade of the learner's own file."""
    state = _load(workspace)
    _section(state, "katas")[kata.id] = _grade_entry(result)
    _save(workspace, state)


def last_seconds(workspace: Workspace) -> dict[str, float]:
    """How long each kata's last grade of the learner's file took, by kata id."""
    entries = _section(_load(workspace), "katas")
    return {
        kata_id: float(entry["seconds"])
        for kata_id, entry in entries.items()
        if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float))
    }


def record_cell(workspace: Workspace, kata: Kata, result: Result, code: str) -> None:
    """Remember a grade of a notebook cell's `code` (the text graded, whose fingerprint the
    result carries), apart from the grades of the exercise file."""
    state = _load(workspace)
    _section(state, "cells")[kata.id] = {**_grade_entry(result), "code": code}
    _save(workspace, state)


def _verdict(kata: Kata, entry: dict[str, Any]) -> tuple[str, float]:
    score = entry.get("score")
    score = float(score) if isinstance(score, (int, float)) else 0.0
    return ("passed" if score >= kata.points else "in progress"), score


def _cell_entry(state: dict[str, Any], kata: Kata) -> dict[str, Any] | None:
    """The last graded notebook cell of `kata`, if its entry is whole."""
    entry = _section(state, "cells").get(kata.id)
    if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
        return None
    return entry if entry.get("fingerprint") == fingerprint(entry["code"]) else None


def status(
    workspace: Workspace, kata: Kata, state: dict[str, Any] | None = None
) -> tuple[str, float | None]:
    """("passed" | "in progress" | "not started", score) for the learner's file as it is now:
    a score only for the text that was graded (None: changed since, not graded yet). While
    the file is the pristine stub, the kata's last graded notebook cell stands for it."""
    state = _load(workspace) if state is None else state
    entry = _section(state, "katas").get(kata.id)
    text = _current_text(workspace, kata)
    if _untouched(text, kata):
        cell = _cell_entry(state, kata)
        return _verdict(kata, cell) if cell is not None else ("not started", 0.0)
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(text):
        return "in progress", None  # edited since it was graded, or never graded
    return _verdict(kata, entry)


def overview_rows(workspace: Workspace) -> list[tuple[Kata, str, float | None, float]]:
    state = _load(workspace)
    return [(k, *status(workspace, k, state), k.points) for k in catalog.katas()]


def first_unpassed(workspace: Workspace, after: Kata | None = None) -> Kata | None:
    """The first kata not passed (after `after`, wrapping round, when it is given)."""
    rows = overview_rows(workspace)
    if after is not None:
        at = next(i for i, row in enumerate(rows) if row[0] == after)
        rows = rows[at + 1 :] + rows[:at]
    return next((k for k, s, _, _ in rows if s != "passed"), None)


def _revealed(state: dict[str, Any], kata: Kata) -> list[int]:
    """The hints (0-based) shown so far; an older state counted levels."""
    shown = _section(state, "hints").get(kata.id, [])
    if isinstance(shown, int):
        shown = list(range(shown))
    return [i for i in shown if isinstance(i, int) and 0 <= i < len(kata.hints)]


def _mistakes(workspace: Workspace, kata: Kata, state: dict[str, Any]) -> list[str]:
    """The misconceptions of the last grade, if it was a grade of the file as it is now (or of
    the notebook cell that stands for it)."""
    entry = _section(state, "katas").get(kata.id)
    text = _current_text(workspace, kata)
    cell = _cell_entry(state, kata)
    if cell is not None and _untouched(text, kata):
        entry, text = cell, cell["code"]  # the notebook cell stands for the pristine file
    if not isinstance(entry, dict) or text is None or entry.get("fingerprint") != fingerprint(text):
        return []
    return [tag for tag in entry.get("mistakes", []) if isinstance(tag, str)]


def next_hint(workspace: Workspace, kata: Kata) -> str:
    """The hint for the first mistake of the last grade, if a hint speaks to it and it was not
    shown yet; else the next hint in order."""
    state = _load(workspace)
    revealed = _revealed(state, kata)
    targeted = [kata.hint_about(tag) for tag in _mistakes(workspace, kata, state)]
    targeted = [number - 1 for number in targeted if number]
    unseen = [i for i in range(len(kata.hints)) if i not in revealed]
    fresh = [i for i in targeted[:1] if i in unseen]
    if not unseen:
        return (
            f"No more hints for {kata.id}. Re-read the docstring and the messages of "
            f"`grade {kata.id}`; `grade hint {kata.id} --all` shows every hint again."
        )
    shown = (fresh or unseen)[0]
    _section(state, "hints")[kata.id] = [*revealed, shown]
    _save(workspace, state)
    about = " (about your code's first mistake)" if fresh else ""
    return f"Hint {shown + 1}/{len(kata.hints)} for {kata.id}{about}: {kata.hints[shown]}"


def shown_hints(workspace: Workspace, kata: Kata) -> str:
    """Every hint shown so far, in order (`grade hint exNN --all`)."""
    revealed = sorted(_revealed(_load(workspace), kata))
    if not revealed:
        return f"No hints shown yet for {kata.id}: `grade hint {kata.id}` gives the first."
    return "\n".join(f"Hint {i + 1}/{len(kata.hints)}: {kata.hints[i]}" for i in revealed)


def reset(workspace: Workspace, kata: Kata) -> Path | None:
    """Put the pristine stub back; returns the backup of the learner's file (None if absent)."""
    stub = kata.stub_text()  # first: a missing stub changes nothing
    path = workspace.exercise_path(kata)
    saved = backup(workspace, path) if path.exists() else None
    path.write_text(stub, encoding="utf-8")
    return saved
