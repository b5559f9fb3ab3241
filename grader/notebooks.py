"""Builds an nbgrader course from the katas: one notebook per kata, made from the same
stub, reference and checks that `grade` uses (no second copy to keep in sync).

A kata's source notebook holds:
  - the stub's docstring as a markdown cell;
  - the solution cell: the stub's code, then the reference inside ### BEGIN/END SOLUTION
    (later definitions win, so the source notebook runs as the reference, and the
    student's release shows exactly the stub);
  - a visible sanity test (the check file's SANITY: torch only, no grader needed);
  - one autograded test cell per hidden check, with its points, the check's source and
    the call that runs it inside ### BEGIN/END HIDDEN TESTS.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import catalog
from .catalog import Kata

SOLUTION_ID = "solution"
SANITY_ID = "sanity"
SANITY_FUNCTION = "sanity_check"
CONFIG = '''\
"""nbgrader configuration for a torch-katas course, written by `grade nbgrader build`."""

from grader.autograde import configure

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = {course_id!r}
configure(c)  # autograde with torch-katas' sandboxed judge, never in the student's kernel
'''


class BuildError(Exception):
    """The course cannot be built as asked."""


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
    raise BuildError(f"{kata.checks_path.name} has no SANITY snippet")


def _cell_metadata(grade_id: str, *, solution: bool = False, points: float | None = None) -> dict:
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def solution_cell_source(kata: Kata) -> str:
    """The stub's code, then the reference as the solution region that the release drops."""
    _, stub = docstring_and_code(kata.exercise_path.read_text(encoding="utf-8"))
    _, reference = docstring_and_code(kata.solution_path.read_text(encoding="utf-8"))
    return f"{stub}\n### BEGIN SOLUTION\n{reference}### END SOLUTION\n"


def sanity_cell_source(kata: Kata) -> str:
    body = textwrap.indent(sanity_of(kata), "    ")
    return (
        "# Sanity test: run it after your solution cell. It needs only torch; the hidden\n"
        "# checks test much more, on random inputs.\n"
        f"def {SANITY_FUNCTION}():\n{body}\n\n{SANITY_FUNCTION}()\n"
        'print("sanity test passed")\n'
    )


def _test_cell_source(kata: Kata, check: Check) -> str:
    shown = textwrap.indent(check.source.rstrip("\n"), "# ", predicate=lambda _: True)
    return (
        f"# Hidden check ({check.points:g} points): {check.title}\n"
        f"{SANITY_FUNCTION}()  # the visible part; the hidden part runs when it is graded\n"
        "### BEGIN HIDDEN TESTS\n"
        "from grader.kernel import run_check\n\n"
        f"run_check({kata.name!r}, {check.name!r}, globals())\n"
        f"# The check, from grader/checks/{kata.name}.py:\n{shown}\n"
        "### END HIDDEN TESTS\n"
    )


def _intro(kata: Kata) -> str:
    doc, _ = docstring_and_code(kata.exercise_path.read_text(encoding="utf-8"))
    title, _, rest = doc.partition("\n")
    return (
        f"# {title}\n\n{rest.strip()}\n\n"
        "Write your code in the next cell: keep the names and signatures. Only that cell is "
        "graded, by hidden checks on random inputs; the cell after it is a quick sanity test."
    )


def kata_notebook(kata: Kata) -> dict:
    """The source notebook for one kata, as nbformat 4 JSON."""
    import nbformat.v4 as nbf

    cells = [
        nbf.new_markdown_cell(_intro(kata), metadata=_cell_metadata("intro")),
        nbf.new_code_cell(
            solution_cell_source(kata), metadata=_cell_metadata(SOLUTION_ID, solution=True)
        ),
        nbf.new_code_cell(sanity_cell_source(kata), metadata=_cell_metadata(SANITY_ID)),
    ]
    for check in checks_of(kata):
        cells.append(
            nbf.new_code_cell(
                _test_cell_source(kata, check),
                metadata=_cell_metadata(check.name, points=check.points),
            )
        )
    return nbf.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )


def solution_code(notebook: dict) -> str:
    """The code of a notebook's solution cell: all that is graded (other cells never run)."""
    return "\n\n".join(
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") == "code"
        and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == SOLUTION_ID
        and cell["metadata"]["nbgrader"].get("solution")
    )


def select_katas(spec: str | None) -> list[Kata]:
    """'ex01-ex05', 'ex01,ex03,ex07', '3' or None (all) -> the katas, in learning order."""
    if not spec:
        return list(catalog.katas())
    chosen: list[Kata] = []
    for part in spec.split(","):
        ends = [catalog.find(end) for end in part.split("-", 1)] if part.strip() else []
        if not ends:
            continue
        low, high = ends[0].number, ends[-1].number
        if low > high:
            raise BuildError(f"empty range {part!r}: write the lower kata first")
        chosen += [k for k in catalog.katas() if low <= k.number <= high and k not in chosen]
    if not chosen:
        raise BuildError(f"no katas in {spec!r}")
    return sorted(chosen, key=lambda k: k.number)


def build_course(
    course_dir: Path, katas: list[Kata], assignment: str, course_id: str = "torch-katas"
) -> list[Path]:
    """Write nbgrader_config.py and source/<assignment>/<kata>.ipynb; the notebooks written."""
    import nbformat

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", assignment):
        raise BuildError(f"assignment name {assignment!r}: use letters, digits, - and _ only")
    folder = course_dir / "source" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    config = course_dir / "nbgrader_config.py"
    if not config.exists():  # an instructor's own settings are kept
        config.write_text(CONFIG.format(course_id=course_id), encoding="utf-8")
    written = []
    for kata in katas:
        path = folder / f"{kata.name}.ipynb"
        nbformat.write(nbformat.from_dict(kata_notebook(kata)), str(path))
        written.append(path)
    return written
