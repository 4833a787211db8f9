"""Names as people type them: no case, no accents, any punctuation."""

from __future__ import annotations

import pytest

from haven_incidents.domain.names import fold, prefix_upper_bound, search_key, words


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Zoë", "zoe"),
        ("ÉMILE", "emile"),
        ("Józef", "jozef"),
        ("Straße", "strasse"),
        ("Søren", "soren"),
        ("Łukasz", "lukasz"),
        ("Ærin", "aerin"),
        ("Siân", "sian"),
    ],
)
def test_folding_drops_case_and_accents(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_a_name_splits_into_words_at_spaces_and_hyphens_but_not_apostrophes() -> None:
    assert words("Mary-Ann  O'Brien") == ["mary", "ann", "obrien"]
    assert words("  D’Souza-Smith Jr. ") == ["dsouza", "smith", "jr"]
    assert words("---") == []
    assert search_key(" Zoë   SMITH ") == "zoe smith"


def test_the_upper_bound_of_a_prefix_follows_every_word_that_starts_with_it() -> None:
    bound = prefix_upper_bound("jo")
    assert bound == "jp"
    assert all("jo" <= w < bound for w in ["jo", "john", "jozef", "jozzzz"])
    assert not ("jo" <= "jp" < bound)
