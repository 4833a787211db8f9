"""The password policy: long enough, not too long, and rated `strong` or better by zxcvbn.

zxcvbn estimates how many guesses an attacker needs, counting dictionary
words, keyboard patterns, dates, repeats and the account's own details (email,
name, school and trust names) against the password.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's running time grows steeply with length (its l33t matching
# enumerates substitutions over every substring): a crafted 100-character
# password takes about 2 s of CPU, a 72-character one about 1 s, and this is a
# public endpoint. So zxcvbn rates at most the first 72 characters (the limit
# zxcvbn's Python port applies itself). Nothing else is truncated: the whole
# password is hashed and checked at login. Rating a prefix is safe, because
# guessing the whole password means guessing its prefix first: if the prefix is
# strong, so is the whole. A long password whose first 72 characters are weak
# is refused, which asks nothing unreasonable of anyone.
RATED_LENGTH = 72
ACCEPTABLE_SCORE = 3
LABELS = ("very weak", "weak", "medium", "strong", "very strong")
# Words anyone attacking a Haven account would try first.
SITE_WORDS = ("haven", "safeguarding", "school", "academy", "trust")

# zxcvbn keeps the user inputs of a call in a module-level dictionary, so two
# threads rating at once would see each other's inputs. One lock makes it
# safe; rating is CPU-bound under the GIL anyway, so nothing is lost.
_zxcvbn_lock = threading.Lock()


@dataclass(frozen=True)
class PasswordStrength:
    score: int
    label: str
    acceptable: bool
    warning: str
    suggestions: tuple[str, ...]


def normalise_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards (composed or not) is the same."""
    return unicodedata.normalize("NFKC", password)


def user_inputs(
    *,
    email: str = "",
    name: str = "",
    school_names: Iterable[str] = (),
    trust_names: Iterable[str] = (),
) -> list[str]:
    """The account's own details, and their parts, which count against its password."""
    inputs: list[str] = list(SITE_WORDS)
    if email:
        local, _, domain = email.partition("@")
        inputs += [email, local, domain, *_words(local), *_words(domain)]
    for phrase in [name, *school_names, *trust_names]:
        if phrase:
            inputs += [phrase, phrase.replace(" ", ""), *_words(phrase)]
    # Lower case and without repeats, in order (dict keys keep insertion order).
    return list(dict.fromkeys(w.lower() for w in inputs if w))


def rate_password(password: str, inputs: Iterable[str] = ()) -> PasswordStrength:
    """Rate an (already normalised) password; CPU-bound, so call it off the event loop."""
    if not password:
        # The meter asks while the field is still empty; zxcvbn fails on "".
        return PasswordStrength(
            score=0,
            label=LABELS[0],
            acceptable=False,
            warning=f"Use at least {MIN_LENGTH} characters.",
            suggestions=(),
        )
    with _zxcvbn_lock:
        result = zxcvbn(password[:RATED_LENGTH], user_inputs=list(inputs))
    score = int(result["score"])
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "")
    suggestions = tuple(str(s) for s in feedback.get("suggestions") or ())
    acceptable = score >= ACCEPTABLE_SCORE
    if len(password) < MIN_LENGTH:
        acceptable = False
        warning = f"Use at least {MIN_LENGTH} characters."
    elif len(password) > MAX_LENGTH:
        acceptable = False
        warning = f"Use at most {MAX_LENGTH} characters."
    elif not acceptable and not warning:
        warning = "This password would be too easy to guess."
    return PasswordStrength(
        score=score,
        label=LABELS[score],
        acceptable=acceptable,
        warning=warning,
        suggestions=suggestions,
    )


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\W_]+", text) if len(w) >= 3]
