"""The learner's progress, hint levels and backups, kept in the workspace's .grade/.

The state file only caches what grading found, with a fingerprint of the file
that was graded: a kata whose file changed since is "in progress" again, and a
score always comes from grading, never from this file. Deleting or editing it
loses nothing but the cache and the hint levels.
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


def record(workspace: Workspace, kata: Kata, result: Result) -> None:
    """Remember a grade of the learner's own file."""
    state = _load(workspace)
    _section(state, "katas")[kata.id] = {
        "score": result.score,
        "max_score": result.max_score,
        "fingerprint": result.fingerprint,
    }
    _save(workspace, state)


def status(
    workspace: Workspace, kata: Kata, state: dict[str, Any] | None = None
) -> tuple[str, float | None]:
    """("passed" | "in progress" | "not started", score) for the learner's file as it is now:
    a score only for the text that was graded (None: changed since, not graded yet)."""
    entry = _section(_load(workspace) if state is None else state, "katas").get(kata.id)
    text = _current_text(workspace, kata)
    if text is None or catalog.digest(text) == kata.stub_sha256:
        return "not started", 0.0
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(text):
        return "in progress", None  # edited since it was graded, or never graded
    score = entry.get("score")
    score = float(score) if isinstance(score, (int, float)) else 0.0
    return ("passed" if score >= kata.points else "in progress"), score


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


def next_hint(workspace: Workspace, kata: Kata) -> str:
    state = _load(workspace)
    levels = _section(state, "hints")
    shown = levels.get(kata.id, 0)
    shown = shown if isinstance(shown, int) and shown >= 0 else 0
    if shown >= len(kata.hints):
        return (
            f"No more hints for {kata.id}. Re-read the docstring "
            f"and the messages of `grade {kata.id}`."
        )
    levels[kata.id] = shown + 1
    _save(workspace, state)
    return f"Hint {shown + 1}/{len(kata.hints)} for {kata.id}: {kata.hints[shown]}"


def reset(workspace: Workspace, kata: Kata) -> Path | None:
    """Put the pristine stub back; returns the backup of the learner's file (None if absent)."""
    stub = kata.stub_text()  # first: a missing stub changes nothing
    path = workspace.exercise_path(kata)
    saved = backup(workspace, path) if path.exists() else None
    path.write_text(stub, encoding="utf-8")
    return saved
