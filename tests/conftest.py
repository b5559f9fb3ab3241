"""Shared helpers for our own tests: grade a piece of source through the real CLI."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader import catalog

ROOT = Path(__file__).resolve().parent.parent


def run_grade(
    *args: str, cwd: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m grader ARGS` as a learner would run it, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


def with_override(kata: str, code: str) -> str:
    """The kata's reference with some definitions replaced: later definitions win in Python."""
    reference = catalog.find(kata).solution_path.read_text()
    return f"{reference}\n\n# --- variant ---\n{code}"


class Graded(dict):
    """A parsed result document, with helpers for assertions."""

    def by_name(self, prefix: str) -> dict[str, Any]:
        return next(t for t in self["tests"] if t["name"].startswith(prefix))

    def failed_tags(self) -> set[str]:
        return {tag for t in self["tests"] if t["status"] == "failed" for tag in t["tags"]}

    def report(self) -> str:
        lines = [self["output"]]
        for t in self["tests"]:
            if t["status"] == "failed":
                lines.append(f"  ✗ {t['name']}: {t['output']} {t['tags']}")
        return "\n".join(lines)


@pytest.fixture
def grade_source(tmp_path: Path):
    """Grade `source` as a submission for `kata`; returns the parsed JSON document."""

    def grade(
        kata: str,
        source: str | bytes,
        *args: str,
        seed: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Graded:
        path = tmp_path / f"{kata}_submission.py"
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(source)
        seed = random.randrange(2**31) if seed is None else seed
        done = run_grade(kata, "--file", str(path), "--json", "--seed", str(seed), *args, env=env)
        assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stderr[-3000:]}"
        return Graded(json.loads(done.stdout))

    return grade
