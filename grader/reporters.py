"""How results are shown: rich text for people, a JSON document for machines.

rich writes colour only to a terminal and honours NO_COLOR, so the same code
gives plain text in a pipe, a CI log or a file.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .catalog import Kata
from .results import Result

STATUS_STYLE = {"passed": "green", "in progress": "yellow", "not started": "dim"}


def console(stream: TextIO | None = None) -> Console:
    """rich styles only a terminal; NO_COLOR turns off bold and dim too, not just colours.

    A terminal gets lines wrapped at its width, between words; a pipe or a log gets each line
    whole."""
    plain = "NO_COLOR" in os.environ
    stream = stream or sys.stdout
    terminal = stream.isatty()
    return Console(
        width=None if terminal else 200,
        file=stream,
        highlight=False,
        soft_wrap=not terminal,
        color_system=None if plain else "auto",
    )


def report(result: Result, kata: Kata, keys: str = "") -> Group:
    """The report a learner reads after `grade exNN`: every check, what went wrong, the total.
    `keys`: the keys that work here (watch), named in place of the commands."""
    lines: list[Text | Padding] = [
        Text.assemble((f"{kata.id} ", "bold"), kata.title),
        _indented(
            Text(f"{result.file} · seed {result.seed} · sandbox: {result.sandbox}", style="dim"), 2
        ),
    ]
    if result.problem:
        lines.append(_indented(Text(result.problem, style="red"), 2))
    if result.note:
        lines.append(_indented(Text(f"({result.note})", style="dim"), 2))
    for check, text in zip(result.checks, result.texts(), strict=True):
        mark = ("✓", "green") if check.passed else ("✗", "red")
        points = f"{check.score:g}/{check.max_score:g}".rjust(5)
        lines.append(_indented(Text.assemble(mark, f" {points}  {check.name}"), 2))
        if text:
            lines.append(_indented(Text(text), 11))
    total = f"{result.score:g}/{result.max_score:g}"
    if result.passed:
        lines.append(Text(f"  All checks pass: {total} points.", style="bold green"))
    else:
        stuck = "press h for a hint" if keys else f"`grade hint {kata.id}` gives a hint"
        lines.append(
            _indented(
                Text.assemble(
                    "Score ",
                    (total, "bold"),
                    f". Stuck? {stuck}; replay these inputs with `--seed {result.seed}`.",
                ),
                2,
            )
        )
    return Group(*lines)


def _indented(text: Text, columns: int) -> Padding:
    """Text wrapped between words at the terminal's width, every line `columns` in."""
    return Padding(text, (0, 0, 0, columns), expand=False)


def overview(
    rows: list[tuple[Kata, str, float | None, float]],
    next_kata: Kata | None,
    concepts: bool = False,
) -> Group:
    """The table of `grade` and `grade list`: (kata, status, score, max_score) per row; a score
    is None for a file changed since it was graded."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    columns = ("kata", "title", "status", "points") + (("concepts",) if concepts else ())
    for column in columns:
        table.add_column(column, justify="right" if column == "points" else "left")
    for kata, status, score, max_score in rows:
        points = f"{score:g}/{max_score:g}" if score is not None else f"-/{max_score:g}"
        cells = [kata.id, kata.title, Text(status, style=STATUS_STYLE[status]), points]
        if concepts:
            cells.append(Text(", ".join(kata.concepts), style="dim"))
        table.add_row(*cells)
    score = sum(r[2] or 0.0 for r in rows)
    total = sum(r[3] for r in rows)
    done = sum(r[1] == "passed" for r in rows)
    footer = Text(f"\n{done}/{len(rows)} katas passed, {score:g}/{total:g} points. ")
    footer.append(
        f"Next: `grade {next_kata.id}` ({next_kata.title})" if next_kata else "Every kata passes!",
        style="bold",
    )
    return Group(table, footer)


def overview_document(
    rows: list[tuple[Kata, str, float | None, float]], next_kata: Kata | None
) -> dict:
    """`grade list --json`: the katas and the learner's status, for tools."""
    return {
        "katas": [
            {
                "id": kata.id,
                "name": kata.name,
                "title": kata.title,
                "concepts": list(kata.concepts),
                "status": status,
                "score": score,
                "max_score": max_score,
            }
            for kata, status, score, max_score in rows
        ],
        "score": sum(r[2] or 0.0 for r in rows),
        "max_score": sum(r[3] for r in rows),
        "next": next_kata.id if next_kata else None,
    }


def write_json(document: object, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(document, indent=1) + "\n")
    stream.flush()
