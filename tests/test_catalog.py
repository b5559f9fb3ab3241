"""The registry: every kata listed once, with its files, hints and concepts."""

from __future__ import annotations

import pytest

from grader import catalog

KATAS = catalog.katas()


def test_katas_in_learning_order_each_listed_once():
    assert [k.id for k in KATAS] == [f"ex{n:02d}" for n in range(1, len(KATAS) + 1)]
    assert len(KATAS) == 23
    assert len({k.slug for k in KATAS}) == len(KATAS)


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_every_kata_has_its_files_hints_and_concepts(kata):
    for path in (kata.stub_path, kata.solution_path, kata.checks_path):
        assert path.is_file(), path
    assert len(kata.hints) >= 2
    assert kata.concepts and kata.title and kata.points > 0


@pytest.mark.parametrize(
    ("query", "kata_id"),
    [
        ("ex05", "ex05"),
        ("5", "ex05"),
        ("ex5", "ex05"),
        ("manual_sgd", "ex05"),
        ("EX05_MANUAL_SGD", "ex05"),
        ("20", "ex20"),
    ],
)
def test_find_accepts_every_spelling(query, kata_id):
    assert catalog.find(query).id == kata_id


@pytest.mark.parametrize("query", ["ex24", "0", "sgd", ""])
def test_find_rejects_unknown_names(query):
    with pytest.raises(catalog.UnknownKata):
        catalog.find(query)
