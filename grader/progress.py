"""The learner's progress and hint levels, kept in a small state file outside exercises/.

The state only remembers what grading found, to show status without grading
again; a score always comes from grading, never from this file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import Kata
from .reporters import Style
from .results import Result

STATE_FILE = Path(os.environ.get("KATAS_STATE", catalog.PROJECT_ROOT / ".grade" / "state.json"))


def _load() -> dict[str, Any]:
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save(state: dict[str, Any]) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=STATE_FILE.parent, delete=False) as f:
        json.dump(state, f, indent=1)
    os.replace(f.name, STATE_FILE)


def _section(state: dict[str, Any], name: str) -> dict[str, Any]:
    section = state.get(name)
    if not isinstance(section, dict):
        section = state[name] = {}
    return section


def record(kata: Kata, result: Result) -> None:
    state = _load()
    _section(state, "katas")[kata.id] = {"score": result.score, "max_score": result.max_score}
    _save(state)


def status(kata: Kata, state: dict[str, Any] | None = None) -> str:
    entry = _section(_load() if state is None else state, "katas").get(kata.id)
    if not isinstance(entry, dict):
        return "not started"
    return "passed" if entry.get("score") == entry.get("max_score") else "in progress"


def listing(style: Style) -> str:
    state = _load()
    rows = []
    for kata in catalog.katas():
        mark = status(kata, state)
        shown = style.good(mark) if mark == "passed" else mark
        concepts = style.dim(", ".join(kata.concepts))
        rows.append(f"{kata.id}  {kata.title:<40} {shown:<12}  {concepts}")
    return "\n".join(rows)


def table(results: list[tuple[Kata, Result]], style: Style) -> str:
    rows = []
    for kata, result in results:
        mark = style.good("✓") if result.passed else style.bad("✗")
        rows.append(f"  {mark} {kata.id}  {kata.title:<40} {result.score:>5g}/{result.max_score:g}")
    score = sum(r.score for _, r in results)
    total = sum(r.max_score for _, r in results)
    rows.append(f"  Total {score:g}/{total:g}")
    todo = next((k for k, r in results if not r.passed), None)
    rows.append(f"  Next: `grade {todo.id}` ({todo.title})" if todo else "  Every kata passes!")
    return "\n".join(rows)


def next_hint(kata: Kata) -> str:
    state = _load()
    levels = _section(state, "hints")
    shown = levels.get(kata.id, 0)
    shown = shown if isinstance(shown, int) and shown >= 0 else 0
    if shown >= len(kata.hints):
        return (
            f"No more hints for {kata.id}. Re-read the docstring "
            f"and the messages of `grade {kata.id}`."
        )
    levels[kata.id] = shown + 1
    _save(state)
    return f"Hint {shown + 1}/{len(kata.hints)} for {kata.id}: {kata.hints[shown]}"
