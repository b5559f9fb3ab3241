"""The kata registry (grader/katas.toml) and where each kata's files live."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
EXERCISES_DIR = PROJECT_ROOT / "exercises"
SOLUTIONS_DIR = PROJECT_ROOT / "solutions"
CHECKS_DIR = PACKAGE_DIR / "checks"


class UnknownKata(LookupError):
    """No kata matches what the user typed."""


@dataclass(frozen=True)
class Kata:
    id: str
    slug: str
    title: str
    points: float
    hints: tuple[str, ...]
    concepts: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.id}_{self.slug}"

    @property
    def number(self) -> int:
        return int(self.id.removeprefix("ex"))

    @property
    def exercise_path(self) -> Path:
        return EXERCISES_DIR / f"{self.name}.py"

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS_DIR / f"{self.name}.py"

    @property
    def checks_path(self) -> Path:
        return CHECKS_DIR / f"{self.name}.py"

    @property
    def worker_imports(self) -> tuple[str, ...]:
        """The check file's WORKER_IMPORTS: modules the worker imports once, before forking."""
        return _worker_imports(self.checks_path)


def worker_imports(katas: Iterable[Kata]) -> tuple[str, ...]:
    """What the worker should import up front to grade these katas."""
    return tuple(sorted({name for kata in katas for name in kata.worker_imports}))


@cache
def _worker_imports(checks: Path) -> tuple[str, ...]:
    for node in ast.parse(checks.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "WORKER_IMPORTS"
            for target in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return ()


@cache
def katas() -> tuple[Kata, ...]:
    with open(PACKAGE_DIR / "katas.toml", "rb") as f:
        entries = tomllib.load(f)["kata"]
    return tuple(
        Kata(
            id=e["id"],
            slug=e["slug"],
            title=e["title"],
            points=float(e["points"]),
            hints=tuple(e["hints"]),
            concepts=tuple(e["concepts"]),
        )
        for e in entries
    )


def find(query: str) -> Kata:
    """Resolve 'ex05', 'ex5', '5', 'manual_sgd' or 'ex05_manual_sgd' to a kata."""
    text = query.strip().lower().removesuffix(".py")
    number = re.fullmatch(r"(?:ex)?0*(\d+)", text)
    for kata in katas():
        if (number and kata.number == int(number.group(1))) or text in (kata.slug, kata.name):
            return kata
    known = ", ".join(k.id for k in katas())
    raise UnknownKata(f"unknown exercise {query!r} (known: {known})")
