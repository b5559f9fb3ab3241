"""How a Result is shown: a terminal report for people, a JSON document for machines."""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from .catalog import Kata
from .results import Result


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def render(result: Result, kata: Kata, style: Style) -> str:
    """The report a learner reads after `grade exNN`."""
    lines = [
        f"{style.bold(kata.id)} {kata.title}  "
        + style.dim(f"({result.file}, seed {result.seed}, sandbox: {result.sandbox})"),
    ]
    if result.problem:
        lines.append(style.bad(_indent(result.problem, "  ")))
    width = max(len(c.name) for c in result.checks)
    for check in result.checks:
        mark = style.good("✓") if check.passed else style.bad("✗")
        points = f"{check.score:g}/{check.max_score:g}"
        lines.append(f"  {mark} {check.name.ljust(width)}  {points:>5}")
        if not check.passed and check.output and check.output != result.problem:
            lines.append(_indent(check.output, "      "))
    total = f"{result.score:g}/{result.max_score:g}"
    if result.passed:
        lines.append(style.good(f"  All checks pass: {total} points. On to the next kata!"))
    else:
        lines.append(
            f"  Score {style.bold(total)}. Stuck? `grade hint {kata.id}` gives a hint; "
            f"replay these inputs with `--seed {result.seed}`."
        )
    return "\n".join(lines)


def write_json(result: Result, stream: TextIO = sys.stdout) -> None:
    stream.write(json.dumps(result.to_gradescope(), indent=1) + "\n")
    stream.flush()
