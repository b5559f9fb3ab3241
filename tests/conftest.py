"""Shared helpers for our own tests: grade a piece of source through the real CLI."""

from __future__ import annotations

import json
import os
import random
import shutil
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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the project with its own git history, as a learner's clone would be."""
    copy = tmp_path / "katas"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("exercises", "solutions", "grader"):
        shutil.copytree(ROOT / part, copy / part, ignore=ignore)
    git = ["git", "-C", str(copy), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "katas"], check=True)
    assert grade(copy, "list").returncode == 0  # as set-up does: the pristine stubs are kept
    return copy


def grade(repo: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m grader` run from the copy, so the copy's files are the ones in use."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(repo), "NO_COLOR": "1"},
    )


def venv_with(wheel: Path, venv: Path) -> Path:
    """A fresh venv at `venv` with `wheel` installed; torch and the other dependencies come
    from ours (through a .pth file), not from a download."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    ours = next(p for p in sys.path if p.endswith("site-packages") and "torch" in os.listdir(p))
    (site / "dependencies.pth").write_text(ours + "\n")  # torch, rich, pytest...: not our grader
    done = subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel installed, as a learner installs it. Session-wide: the tests that
    use it share an xdist group ("install"), so that it is built once."""
    where = tmp_path_factory.mktemp("install")
    source = where / "source"  # a clean copy: the build never writes into our checkout
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".grade")
    shutil.copytree(ROOT, source, ignore=ignore)
    wheels = where / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return venv_with(next(wheels.glob("*.whl")), where / "venv")
