"""Builds an nbgrader course from the katas: one notebook per kata.

A kata's source notebook holds:
  - the stub's docstring as a markdown cell;
  - the solution cell: the pristine stub's code, then the reference inside ### BEGIN/END
    SOLUTION (later definitions win, so the source notebook runs as the reference, and the
    student's release shows exactly the stub);
  - a visible sanity test (the check file's SANITY: torch only, no grader needed);
  - one autograded test cell per hidden check, with its points, the check's source and
    the call that runs it inside ### BEGIN/END HIDDEN TESTS.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from .. import catalog
from ..catalog import Kata, NoStub, UnknownKata
from ..notebooks import (
    SANITY_FUNCTION,
    SANITY_ID,
    SOLUTION_ID,
    Check,
    checks_of,
    docstring_and_code,
    sanity_of,
)
from ..usage import EXIT_PASSED, UsageError

CONFIG = '''\
"""nbgrader configuration for a torch-katas course, written by `grade nbgrader build`."""

from grader.classroom.autograde import configure

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = {course_id!r}
configure(c)  # autograde with torch-katas' sandboxed judge, never in the student's kernel
'''


class BuildError(Exception):
    """The course cannot be built as asked."""


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
    _, stub = docstring_and_code(kata.stub_text())
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
    """A test cell: its first line is the check's title, which names the cell in the contents
    of nbgrader's feedback (grader.classroom.autograde.FEEDBACK)."""
    shown = textwrap.indent(check.source.rstrip("\n"), "# ", predicate=lambda _: True)
    return (
        f"# {check.title}\n"
        f"# A hidden check worth {check.points:g} point{'' if check.points == 1 else 's'}.\n"
        f"{SANITY_FUNCTION}()  # the visible part; the hidden part runs when it is graded\n"
        "### BEGIN HIDDEN TESTS\n"
        "from grader.classroom.kernel import run_check\n\n"
        f"run_check({kata.name!r}, {check.name!r}, globals())\n"
        f"# The check, from grader/checks/{kata.name}.py:\n{shown}\n"
        "### END HIDDEN TESTS\n"
    )


def _intro(kata: Kata) -> str:
    doc, _ = docstring_and_code(kata.stub_text())
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


def main(argv: list[str]) -> int:
    """`grade nbgrader build COURSE_DIR`."""
    parser = argparse.ArgumentParser(
        prog="grade nbgrader",
        description="Build an nbgrader course whose autograding uses torch-katas' judge.",
    )
    parser.add_argument("action", choices=["build"])
    parser.add_argument("course_dir", type=Path, help="the course directory (made if missing)")
    parser.add_argument("--katas", help="e.g. ex01-ex05 or ex01,ex03 (default: all)")
    parser.add_argument("--assignment", default="katas", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        katas = catalog.select(args.katas)
        written = build_course(args.course_dir, katas, args.assignment)
    except (BuildError, UnknownKata, NoStub) as exc:
        raise UsageError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise UsageError(f"{exc.name} is missing: pip install 'torch-katas[nbgrader]'") from None
    config = args.course_dir / "nbgrader_config.py"
    if "grader.classroom.autograde" not in config.read_text(encoding="utf-8"):
        print(
            f"warning: {config} was kept and does not call "
            "grader.classroom.autograde.configure(c): autograding would run in the students' "
            "kernels",
            file=sys.stderr,
        )
    print(f"{len(written)} notebooks in {written[0].parent}; config in {config}")
    print(f"next, in {args.course_dir}: nbgrader generate_assignment {args.assignment}")
    return EXIT_PASSED
