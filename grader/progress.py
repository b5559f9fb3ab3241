"""The learner's progress, hint levels and backups, kept in .grade/ outside exercises/.

The state file only caches what grading found, with a fingerprint of the file
that was graded: a kata whose file changed since is "in progress" again, and a
score always comes from grading, never from this file. Deleting or editing it
loses nothing but the cache and the hint levels.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import Kata
from .results import Result, fingerprint

STATE_DIR = Path(os.environ.get("KATAS_STATE_DIR", catalog.PROJECT_ROOT / ".grade"))
STATE_FILE = STATE_DIR / "state.json"
BACKUP_DIR = STATE_DIR / "backups"


class NoStub(RuntimeError):
    """The original stub cannot be found (no git history of exercises/)."""


def _load() -> dict[str, Any]:
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save(state: dict[str, Any]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=STATE_DIR, delete=False) as f:
        json.dump(state, f, indent=1)
    os.replace(f.name, STATE_FILE)


def _section(state: dict[str, Any], name: str) -> dict[str, Any]:
    section = state.get(name)
    if not isinstance(section, dict):
        section = state[name] = {}
    return section


def _current_text(kata: Kata) -> str | None:
    try:
        return kata.exercise_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def record(kata: Kata, result: Result) -> None:
    """Remember a grade of the learner's own file."""
    state = _load()
    _section(state, "katas")[kata.id] = {
        "score": result.score,
        "max_score": result.max_score,
        "fingerprint": result.fingerprint,
    }
    _save(state)


def status(kata: Kata, state: dict[str, Any] | None = None) -> tuple[str, float]:
    """("passed" | "in progress" | "not started", last score) for the learner's current file."""
    entry = _section(_load() if state is None else state, "katas").get(kata.id)
    text = _current_text(kata)
    if not isinstance(entry, dict) or text is None:
        return "not started", 0.0
    score = entry.get("score")
    score = float(score) if isinstance(score, (int, float)) else 0.0
    if entry.get("fingerprint") != fingerprint(text):
        return "in progress", score  # edited since it was graded
    if score >= kata.points:
        return "passed", score
    return ("in progress" if score > 0 else "not started"), score


def overview_rows() -> list[tuple[Kata, str, float, float]]:
    state = _load()
    return [(k, *status(k, state), k.points) for k in catalog.katas()]


def first_unpassed() -> Kata | None:
    return next((k for k, s, _, _ in overview_rows() if s != "passed"), None)


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


def original_stub(kata: Kata) -> str:
    """The stub as the repository's last commit has it."""
    relative = kata.exercise_path.relative_to(catalog.PROJECT_ROOT).as_posix()
    try:
        shown = subprocess.run(
            ["git", "-C", str(catalog.PROJECT_ROOT), "show", f"HEAD:{relative}"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise NoStub(f"cannot find the original {relative}: git is not available") from exc
    if shown.returncode != 0:
        raise NoStub(f"cannot find the original {relative} in this repository's git history")
    return shown.stdout


def reset(kata: Kata) -> Path | None:
    """Put the original stub back; returns the backup of the learner's file (None if absent)."""
    stub = original_stub(kata)
    backup = None
    if kata.exercise_path.exists():
        BACKUP_DIR.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = BACKUP_DIR / f"{kata.name}.{stamp}.{time.time_ns() % 10**6:06d}.py"
        backup.write_bytes(kata.exercise_path.read_bytes())
    kata.exercise_path.write_text(stub, encoding="utf-8")
    return backup
