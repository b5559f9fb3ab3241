"""`nbgrader autograde` with torch-katas' judge in place of the student's kernel.

nbgrader normally executes the whole submitted notebook in a kernel and scores
each test cell by whether it raised. The student's code runs in that same kernel,
so it can patch torch.allclose, add cells, rewrite the test cells' input or read
the course's source/ folder. Here no kernel runs: JudgeSolutions takes the code
of the notebook's solution cell, grades it with the same sandboxed judge as
`grade --file`, and writes each check's verdict as the output of its test cell.
nbgrader's own SaveAutoGrades then reads those outputs into the gradebook, and
generate_feedback shows our diagnosis (never the hidden tests' source), on nbgrader's page
with each test cell named after its check and long verdicts wrapped (FeedbackExporter).
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

import nbformat
from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter, NotebookExporter
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Float, Integer, default
from traitlets.config import Config

from .. import catalog, judge
from ..lanes import Lane
from ..notebooks import SOLUTION_ID, solution_code
from ..results import CheckResult, Result
from ..sandbox import Limits
from .course import kata_notebook

_lanes: dict[float, Lane] = {}


def _lane(check_seconds: float) -> Lane:
    """One warm worker per autograde run (torch imported once); it sees nothing of the course."""
    if check_seconds not in _lanes:
        _lanes[check_seconds] = Lane(Limits(check_seconds=check_seconds))
        atexit.register(_lanes[check_seconds].close)
    return _lanes[check_seconds]


def _verdict(check: CheckResult | None, text: str, why_missing: str) -> dict[str, Any]:
    if check is None:
        return {
            "output_type": "error",
            "ename": "NotGraded",
            "evalue": why_missing,
            "traceback": [f"not graded: {why_missing}"],
        }
    if check.passed:
        text = f"passed: {check.name} ({check.score:g}/{check.max_score:g})\n"
        return {"output_type": "stream", "name": "stdout", "text": text}
    message = f"{check.name}: {text}"
    return {
        "output_type": "error",
        "ename": "CheckFailed",
        "evalue": message,
        "traceback": [f"failed ({check.score:g}/{check.max_score:g}): {message}"],
    }


def _summary(result: Result) -> dict[str, Any]:
    text = (
        f"Graded by torch-katas' judge ({result.sandbox}): {result.summary()}\n"
        "Only this cell's code was graded; each check's verdict is under its cell.\n"
    )
    return {"output_type": "stream", "name": "stdout", "text": text}


PROBLEM = "torch_katas_problem"  # notebook metadata: why the submission cannot be graded


class TolerantExporter(NotebookExporter):
    """Reads a submitted file that is not a notebook as an empty one that says so, so that one
    student's broken file is a 0 with its reason, not the end of the class's autograde."""

    def from_file(self, file_stream: Any, resources: dict | None = None, **kw: Any) -> Any:
        try:
            return super().from_file(file_stream, resources=resources, **kw)
        except Exception as exc:  # whatever a broken file raises, it is that student's
            name = (resources or {}).get("metadata", {}).get("name", "the notebook")
            reason = f"{name}.ipynb is not a readable notebook ({type(exc).__name__})"
            nb = nbformat.v4.new_notebook(metadata={PROBLEM: reason})
            return self.from_notebook_node(nb, resources=resources, **kw)


def _changed_locked_cells(nb: NotebookNode) -> list[str]:
    """The locked cells (tests, the exercise's text) a student changed: the checksum the
    release recorded in each no longer matches it. nbgrader's OverwriteCells compares with the
    gradebook's checksum instead, taken before the hidden tests were cleared, so there every
    untouched hidden-test cell reads as changed; here it meets the course's own cells."""
    changed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("locked") and meta.get("checksum")):
            continue
        try:
            same = utils.compute_checksum(cell) == meta["checksum"]
        except (KeyError, TypeError, ValueError, AttributeError):
            same = False  # metadata too broken to compute: not as it was released
        if not same:
            changed.append(str(meta.get("grade_id", "?")))
    return changed


class NormalizeSubmission(NbGraderPreprocessor):
    """The submission reduced to what is graded: the course's own notebook with the student's
    solution code in its solution cell (every solution cell's code, in order, as a kernel
    would run them). Whatever else the student's file holds (other cells, duplicated or
    renamed test cells, another nbgrader schema version) is gone before nbgrader reads it."""

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        names = resources["nbgrader"]
        template = self._template(names["assignment"], names["notebook"])
        for grade_id in _changed_locked_cells(nb):
            self.log.warning(
                "%s changed the locked cell %s of %s: it is graded with the course's copy",
                names["student"],
                grade_id,
                names["notebook"],
            )
        problem = nb.metadata.get(PROBLEM, "")
        code = "" if problem else solution_code(nb)
        if not problem and not any(
            cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == SOLUTION_ID
            for cell in nb.cells
        ):
            problem = f"the notebook has no solution cell (grade_id {SOLUTION_ID!r})"
        for cell in template.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == SOLUTION_ID:
                cell.source = code
        if problem:
            template.metadata[PROBLEM] = problem
        return template, resources

    def _template(self, assignment: str, notebook: str) -> NotebookNode:
        course = CourseDirectory(config=self.config)
        folder = course.format_path(course.source_directory, ".", assignment)
        path = Path(folder) / f"{notebook}.ipynb"
        if path.is_file():
            return nbformat.read(str(path), as_version=4)
        return from_dict(kata_notebook(catalog.find(notebook)))


class JudgeSolutions(NbGraderPreprocessor):
    """Grades the solution cell with the out-of-process judge; replaces nbgrader's Execute."""

    seed = Integer(
        None, allow_none=True, help="the random seed for every notebook (default: a fresh one)"
    ).tag(config=True)
    check_seconds = Float(Limits.check_seconds, help="time limit per check").tag(config=True)

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        kata = catalog.find(resources["nbgrader"]["notebook"])
        result = judge.grade_source(
            kata,
            solution_code(nb),
            f"{kata.name}.py",
            problem=nb.metadata.get(PROBLEM, ""),
            seed=self.seed,
            lane=_lane(self.check_seconds),
        )
        texts = zip(result.checks, result.texts(), strict=True)
        by_id = {check.check: (check, text) for check, text in texts}
        for cell in nb.cells:
            if utils.is_grade(cell) and cell.cell_type == "code":
                grade_id = cell.metadata.nbgrader["grade_id"]
                check, text = by_id.get(grade_id, (None, ""))
                verdict = _verdict(check, text, f"{grade_id} is not a check of {kata.id}")
                cell.outputs = [from_dict(verdict)]
            elif cell.cell_type == "code" and utils.is_solution(cell):
                cell.outputs = [from_dict(_summary(result))]
        self.log.info("%s: %s", resources["nbgrader"]["student"], result.summary())
        return nb, resources


FEEDBACK_TEMPLATE = "torch_katas_feedback.html.j2"
# nbgrader's feedback page (the template named "feedback", index.html.j2 first on its path),
# less two faults: its contents name every test cell "Test cell", and a verdict longer than the
# page's width scrolls out of sight. Here a test cell whose first line is a comment or a heading
# ("# ...": ours is the check's title, grader.classroom.course) is named by it; output wraps.
FEEDBACK = r"""{%- extends "index.html.j2" -%}

{%- macro contents_name(cell) -%}
{%- set nbgrader = cell.metadata.nbgrader -%}
{%- set first = cell.source.split("\n")[0] -%}
{%- if nbgrader.task -%}Task
{%- elif nbgrader.solution -%}
{{- "Coding free-response" if cell.cell_type == "code" else "Written response" -}}
{%- elif first.startswith("# ") and first[2:].strip() -%}{{ first[2:].strip() | e }}
{%- else -%}Test cell
{%- endif -%}
{%- endmacro -%}

{%- macro scored(score, points) -%}
(Score: {{ score | float | round(2) }} / {{ points | float | round(2) }})
{%- endmacro -%}

{%- block header -%}
{%- set wrap = "div.output_area pre { white-space: pre-wrap; word-break: normal; "
                "overflow-wrap: anywhere; }" -%}
{{ super() | replace("</head>", "<style>" ~ wrap ~ "</style>\n</head>") }}
{%- endblock header -%}

{%- block body -%}
{%- set graded = resources.nbgrader -%}
<body>
  <a name="top"></a>
  <div class="container">
    <div class="panel panel-default">
      <div class="panel-heading">
        <h4>{{ graded.notebook }} {{ scored(graded.score, graded.max_score) }}</h4>
        <div id="toc">
          <ol>
          {%- for cell in nb.cells if cell.metadata.nbgrader %}
            {%- set nbgrader = cell.metadata.nbgrader %}
            {%- if nbgrader.grade or nbgrader.task %}
            <li><a href="#{{ nbgrader.grade_id }}">{{ contents_name(cell) }}</a>
              {{- " " ~ scored(nbgrader.score, nbgrader.points) }}</li>
            {%- endif %}
            {%- if nbgrader.comment %}
            <li><a href="#comment-{{ nbgrader.grade_id }}">Comment</a></li>
            {%- endif %}
          {%- endfor %}
          {%- if graded.late_penalty > 0 %}
            <li class="late-penalty">Late submission penalty
              (Score: -{{ graded.late_penalty | float | round(2) }})</li>
          {%- endif %}
          </ol>
        </div>
      </div>
      <div class="panel-body">
        <div id="notebook" class="border-box-sizing">
          <div class="container" id="notebook-container">
            {{ self.body_loop() }}
          </div>
        </div>
      </div>
    </div>
  </div>
</body>
{%- endblock body -%}
"""


class FeedbackExporter(HTMLExporter):
    """generate_feedback's exporter: nbgrader's page, from FEEDBACK."""

    @default("extra_loaders")
    def _feedback_loader(self) -> list[DictLoader]:
        return [DictLoader({FEEDBACK_TEMPLATE: FEEDBACK})]

    @default("template_file")
    def _feedback_template(self) -> str:
        return FEEDBACK_TEMPLATE


def configure(c: Config) -> None:
    """Point an nbgrader config at our judge (called from the course's nbgrader_config.py)."""
    c.Autograde.exporter_class = TolerantExporter
    c.Autograde.sanitize_preprocessors = [
        NormalizeSubmission,  # first: nbgrader's own steps then meet a well-formed notebook
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        JudgeSolutions,  # instead of Execute: the student's kernel never runs
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    # feedback shows each check's verdict, never the hidden tests' source
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    # the release keeps the stub as it is; the reference's region leaves nothing behind
    c.ClearSolutions.code_stub = {"python": ""}
