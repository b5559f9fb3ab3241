"""The judge grading several submissions in one pytest session, as `grade batch` does."""

from __future__ import annotations

import gc

import pytest

from grader import catalog, import_judge
from grader.judge import InternalError, OpenSession, Submission, grade_source, grade_sources
from grader.lanes import Lane
from grader.sandbox import Limits

from .conftest import with_override
from .variants.ex03_gather_nll import WRONG

PRINTS = 'print("from the first submission")\n'


def _verdicts(result) -> list[tuple]:
    return [(c.check, c.score, c.output, tuple(c.tags)) for c in result.checks]


def test_one_session_grades_each_submission_as_if_alone():
    kata = catalog.find("ex03")
    reference = kata.solution_path.read_text()
    submissions = [
        Submission(PRINTS + with_override("ex03", WRONG["ex03/missing-minus"]), "a.py"),
        Submission(reference, "b.py"),
        Submission("import os\n\nos._exit(3)\n", "c.py"),
        Submission(kata.stub_text(), "d.py"),
        Submission("", "e.py", problem="e.py is not UTF-8 text"),
        Submission(reference, "f.py"),
    ]
    lane = Lane(Limits())
    try:
        together = grade_sources(kata, submissions, seed=11, lane=lane)
        alone = [
            grade_source(kata, s.source, s.filename, problem=s.problem, seed=11, lane=lane)
            for s in submissions
        ]
    finally:
        lane.close()
    assert [r.file for r in together] == [s.filename for s in submissions]
    for many, one in zip(together, alone, strict=True):
        assert _verdicts(many) == _verdicts(one), f"{many.file} graded differently in a session"
    assert [r.passed for r in together] == [False, True, False, False, False, True]
    assert any("from the first submission" in c.output for c in together[0].checks)
    later = [c.output for r in together[1:] for c in r.checks]
    assert not any("from the first submission" in text for text in later), "printed output leaked"


def test_the_judge_s_objects_are_frozen_once_not_at_every_grade():
    import_judge()
    frozen = gc.get_freeze_count()
    made_since = [[] for _ in range(1000)]
    import_judge()
    assert gc.get_freeze_count() == frozen, "later objects (a watch's) must stay collectable"
    assert made_since


def test_an_open_session_grades_many_katas_as_sessions_of_their_own_do():
    ex03, ex05 = catalog.find("ex03"), catalog.find("ex05")
    wrong = Submission(with_override("ex03", WRONG["ex03/missing-minus"]), "a.py")
    right = Submission(ex05.solution_path.read_text(), "b.py")
    work = [(ex03, [wrong]), (ex05, [right]), (ex03, [wrong])]
    lane = Lane(Limits())
    session = OpenSession([ex03, ex05])
    try:
        kept = [session.grade(kata, subs, lane, 7)[0] for kata, subs in work]
        with pytest.raises(InternalError, match="ex01_affine_params did not load"):
            session.grade(catalog.find("ex01"), [right], lane, 7)  # not collected there
        again = session.grade(ex05, [right], lane, 7)[0]
        alone = [grade_sources(kata, subs, seed=7, lane=lane)[0] for kata, subs in work]
    finally:
        session.close()
        lane.close()
    assert [r.kata for r in kept] == [ex03.name, ex05.name, ex03.name]
    for open_one, own in zip(kept, alone, strict=True):
        assert _verdicts(open_one) == _verdicts(own), f"{own.kata} graded differently"
    assert not kept[0].passed and kept[1].passed, "the wrong one fails, the reference passes"
    assert _verdicts(again) == _verdicts(kept[1]), "an error in one grade leaves the session"
