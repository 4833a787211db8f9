"""Pupils' names as people type them: case, accents and word order do not matter.

A name is stored as normalised words ("Zoë O'Brien-Smith" -> zoe, obrien,
smith), and a query is cut into the same kind of words; a pupil matches when
every query word starts a different word of the pupil's name.
"""

from __future__ import annotations

import unicodedata

# Letters that Unicode does not decompose into a base letter plus an accent.
_FOLD = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
)
# Marks inside a word that people leave out when they type ("O'Brien" -> "obrien").
_JOINERS = frozenset("'’‘`´.")

MAX_QUERY_WORDS = 8


def fold(text: str) -> str:
    """Lower case, without accents: "Zoë" -> "zoe", "Straße" -> "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare.translate(_FOLD))


def words(text: str) -> list[str]:
    """Normalised words of a name or query; hyphens and spaces separate words."""
    result: list[str] = []
    current: list[str] = []
    for ch in fold(text):
        if ch.isalnum():
            current.append(ch)
        elif ch in _JOINERS:
            continue
        elif current:
            result.append("".join(current))
            current = []
    if current:
        result.append("".join(current))
    return result


def search_key(text: str) -> str:
    """The normalised words joined by single spaces (stored, and compared as prefixes)."""
    return " ".join(words(text))


def display_name(first_name: str, last_name: str) -> str:
    return f"{first_name} {last_name}".strip()


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string that starts with `prefix`.

    With a "C"-collated column, `word >= prefix AND word < bound` is a prefix
    match that a plain btree index answers, even in a generic prepared plan
    (where `LIKE $1` could not use the index).
    """
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
