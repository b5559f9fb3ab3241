"""Every kata: the reference gets full marks, the stub 0, each known mistake is diagnosed,
and correct implementations written differently from the reference get full marks too."""

from __future__ import annotations

import importlib

import pytest

from grader import catalog

from .conftest import with_override

KATAS = catalog.katas()


def _variants(kind: str) -> list:
    """(kata, name, code) cases from tests/variants/<kata>.py, with ids that name the kata."""
    cases = []
    for kata in KATAS:
        module = importlib.import_module(f"tests.variants.{kata.name}")
        for name, code in getattr(module, kind).items():
            label = name if name.startswith(kata.id) else f"{kata.id}-{name}"
            cases.append(pytest.param(kata, name, code, id=label))
    return cases


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_reference_gets_full_marks(kata, grade_source):
    result = grade_source(kata.id, kata.solution_path.read_text())
    assert result["score"] == result["max_score"] == kata.points, result.report()


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_untouched_stub_scores_zero(kata, grade_source):
    result = grade_source(kata.id, kata.stub_text())
    assert result["max_score"] == kata.points
    assert result["score"] == 0, result.report()


@pytest.mark.parametrize(("kata", "tag", "code"), _variants("WRONG"))
def test_misconception_loses_points_with_its_diagnosis(kata, tag, code, grade_source):
    result = grade_source(kata.id, with_override(kata.id, code))
    assert result["score"] < result["max_score"], f"{tag} was not caught\n{result.report()}"
    assert tag in result.failed_tags(), f"{tag} not diagnosed\n{result.report()}"


@pytest.mark.parametrize(("kata", "name", "code"), _variants("RIGHT"))
def test_other_correct_implementations_get_full_marks(kata, name, code, grade_source):
    result = grade_source(kata.id, with_override(kata.id, code))
    assert result["score"] == result["max_score"], f"{name}\n{result.report()}"
