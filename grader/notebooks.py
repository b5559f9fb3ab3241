"""A kata as notebook material, and the code a notebook holds.

The katas' notebooks (an nbgrader course, grader/classroom/course.py) are made from the same
stub, reference and checks that `grade` uses: no second copy to keep in sync. A notebook a
learner hands in is read back here: the code of its solution cell, or of all its cells.
"""

from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import dataclass

from .catalog import Kata

SOLUTION_ID = "solution"
SANITY_ID = "sanity"
SANITY_FUNCTION = "sanity_check"


class NotANotebook(ValueError):
    """The text is not a Jupyter notebook."""


@dataclass(frozen=True)
class Check:
    """One hidden check as its file declares it."""

    name: str  # the test function's name: the test cell's grade_id
    title: str  # its docstring's first line
    points: float
    source: str  # its decorators and definition


def docstring_and_code(source: str) -> tuple[str, str]:
    """A module's docstring and the code after it."""
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=True) or ""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        lines = source.splitlines(keepends=True)
        source = "".join(lines[body[0].end_lineno :])
    return doc, source.strip("\n") + "\n"


def checks_of(kata: Kata) -> list[Check]:
    """The kata's checks, read from its check file without importing it."""
    text = kata.checks_path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    found = []
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        points = 1.0
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and getattr(decorator.func, "id", "") == "points"
                and decorator.args
            ):
                points = float(ast.literal_eval(decorator.args[0]))
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        doc = (ast.get_docstring(node) or node.name).strip().splitlines()[0]
        found.append(Check(node.name, doc, points, "".join(lines[first - 1 : node.end_lineno])))
    return found


def sanity_of(kata: Kata) -> str:
    """The check file's SANITY snippet: the visible test a student can run."""
    for node in ast.parse(kata.checks_path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", "") for t in node.targets] == ["SANITY"]
            and isinstance(node.value, ast.Constant)
        ):
            return textwrap.dedent(node.value.value).strip("\n") + "\n"
    raise LookupError(f"{kata.checks_path.name} has no SANITY snippet")


def solution_code(notebook: dict) -> str:
    """The code of a notebook's solution cell: all that is graded (other cells never run)."""
    return "\n\n".join(
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") == "code"
        and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == SOLUTION_ID
        and cell["metadata"]["nbgrader"].get("solution")
    )


def code_of(text: str) -> tuple[str, str]:
    """The code to grade in a notebook file's text, and a note on where it came from: an
    nbgrader notebook's solution cell, or else every code cell in order."""
    try:
        notebook = json.loads(text)
    except ValueError as exc:
        raise NotANotebook(f"it is not JSON ({exc})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise NotANotebook("it has no list of cells")
    if any(_grade_id(cell) == SOLUTION_ID for cell in cells):
        return solution_code(notebook), "the notebook's solution cell"
    code = [_source(cell) for cell in cells if cell.get("cell_type") == "code"]
    graded = [c.split("\n", 1)[1] for c in code if c.startswith("%%grade") and "\n" in c]
    if graded:  # a self-study notebook (`grade notebook`): its %%grade cells are the code
        return "\n\n".join(graded), f"the notebook's {len(graded)} %%grade cell(s)"
    # IPython's own lines (%magics, !shell) are not Python: they become comments
    python = ["\n".join(_python(line) for line in c.splitlines()) for c in code]
    return "\n\n".join(python), f"all {len(code)} code cells of the notebook, in order"


def _python(line: str) -> str:
    return f"# {line}" if line.lstrip().startswith(("%", "!")) else line


def _grade_id(cell: dict) -> object:
    return (cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id")


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)
