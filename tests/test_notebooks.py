"""The generated notebooks, without nbgrader: cells, ids, points, and the sanity tests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grader import catalog, notebooks
from grader.catalog import Kata
from grader.classroom import course

KATAS = catalog.katas()


SANITY_DRIVER = """
import json, sys
outcomes = {}
for name, code in json.loads(sys.stdin.read()).items():
    try:
        exec(compile(code, name, "exec"), {"__name__": "__main__"})
        outcomes[name] = "passed"
    except BaseException as exc:
        outcomes[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(outcomes))
"""


@pytest.fixture(scope="module")
def sanity_outcomes() -> dict[str, str]:
    """Each kata's solution cell code, then its sanity cell, as a fresh kernel runs them:
    for the reference and for the stub, all in one process (one torch import)."""
    programs = {
        f"{kata.id}/{label}": f"{path.read_text()}\n\n{course.sanity_cell_source(kata)}"
        for kata in KATAS
        for label, path in (("reference", kata.solution_path), ("stub", kata.stub_path))
    }
    done = subprocess.run(
        [sys.executable, "-c", SANITY_DRIVER],
        input=json.dumps(programs),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_sanity_test_passes_the_reference_and_fails_the_stub(
    kata: Kata, sanity_outcomes: dict[str, str]
) -> None:
    reference = sanity_outcomes[f"{kata.id}/reference"]
    assert reference == "passed", f"the reference fails the sanity test: {reference}"
    stub = sanity_outcomes[f"{kata.id}/stub"]
    assert stub != "passed", "the stub passes the sanity test: it checks nothing"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_notebook_has_a_cell_per_check_with_its_points(kata: Kata) -> None:
    nb = course.kata_notebook(kata)
    meta = [cell["metadata"]["nbgrader"] for cell in nb["cells"]]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), f"grade_ids repeat: {ids}"
    assert all(m["schema_version"] == 3 for m in meta)
    graded = {m["grade_id"]: m["points"] for m in meta if m["grade"]}
    checks = notebooks.checks_of(kata)
    assert graded == {c.name: c.points for c in checks}, "test cells differ from the checks"
    assert sum(graded.values()) == kata.points, "the notebook's points differ from the registry"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_source_solution_cell_is_the_stub_then_the_reference(kata: Kata) -> None:
    """Stub first, then the reference: the reference's definitions are the ones left."""
    code = course.solution_cell_source(kata)
    _, stub = notebooks.docstring_and_code(kata.stub_text())
    _, reference = notebooks.docstring_and_code(kata.solution_path.read_text())
    before, region = code.split("### BEGIN SOLUTION\n")
    assert before.strip() == stub.strip(), "the cell does not start with the stub"
    assert region == f"{reference}### END SOLUTION\n", "the solution region is not the reference"
    compile(code, kata.name, "exec")  # the whole cell is valid Python


@pytest.mark.parametrize(
    ("spec", "ids"),
    [
        ("ex01-ex03", ["ex01", "ex02", "ex03"]),
        ("5,ex02", ["ex02", "ex05"]),
        ("ex20", ["ex20"]),
        (None, [k.id for k in KATAS]),
    ],
)
def test_select_katas(spec: str | None, ids: list[str]) -> None:
    assert [k.id for k in catalog.select(spec)] == ids


def test_select_katas_rejects_a_backwards_range() -> None:
    with pytest.raises(catalog.UnknownKata, match="lower kata first"):
        catalog.select("ex05-ex01")
