"""Invented pupils for the benchmarks: varied names, drawn deterministically.

Names are drawn with Zipf-like weights (the first of each list is the most
common), as in a real school roll where Smith and Olivia recur and most names
are rare; some pupils have a double-barrelled surname or a second first name.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

FIRST_NAMES = """
Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily
Ella Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda
Ruby Emilia Maya Millie Zoë Chloé Renée Anaïs Élodie Inès Noémie Siobhán Róisín Aoife Niamh
Saoirse Aaliyah Aisha Fatima Maryam Zara Hana Amira Priya Ananya Mei Yuki Chiara Giulia Lucía
Noah Muhammad Oliver George Leo Arthur Oscar Theodore Freddie Archie Henry Theo Alfie Charlie
Finley Jack Jacob Lucas Thomas Edward Harry Tommy Isaac Teddy Joshua Arlo Roman Louie Max Albert
Ezra Ethan Adam Mason Reuben Louis James Samuel Elijah Harrison Jude Joseph Hugo Rory Zachary
José Jesús Ángel Andrés Noël Maël Loïc Björn Jürgen Łukasz Søren Seán Oisín Tadhg Ciarán Kofi
Kwame Chidi Tunde Omar Yusuf Ibrahim Hamza Ayaan Arjun Rohan Dev Kai Hiroshi Minh Wei
""".split()

SURNAMES = """
Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans
Walker White Roberts Green Hall Thomas Clarke Jackson Wood Harris Edwards Turner Martin Cooper
Hill Ward Hughes Moore Clark King Harrison Lewis Baker Lee Allen Morris Khan Scott Watson Davis
Parker James Bennett Young Phillips Richardson Mitchell Bailey Carter Cook Singh Shaw Bell Collins
Morgan Kelly Begum Miller Cox Marshall Simpson Anderson Ali Ahmed Hussain Rahman Murphy O'Brien
O'Connor McCarthy MacDonald Fitzgerald García Martínez Rodríguez López Fernández Sánchez Pérez
Gómez Díaz Müller Schäfer Köhler Nowak Kowalski Wiśniewski Lewandowski Nguyen Tran Chen Wang Li
Zhang Okafor Adeyemi Mensah Owusu Novák Dvořák Jørgensen Ångström Bergström Lefèvre Dubois
Moreau Girard Renaud Côté Gauthier Rossi Russo Ferrari Esposito Bianchi Kaur Sharma Gupta Das
Ivanova Popescu Yılmaz Demir Kaya Şahin Öztürk Papadopoulos Costa Silva Santos Oliveira
""".split()

_DOUBLE_BARRELLED = 0.06
_SECOND_FIRST_NAME = 0.08
_YEAR_GROUPS = ["R", *(str(n) for n in range(1, 14))]


def _zipf_weights(count: int, exponent: float = 0.9) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


class PupilNames:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)  # noqa: S311 - invented names, not secrets
        self._first_weights = _zipf_weights(len(FIRST_NAMES))
        self._last_weights = _zipf_weights(len(SURNAMES))

    def first_name(self) -> str:
        first = self.random.choices(FIRST_NAMES, self._first_weights)[0]
        if self.random.random() < _SECOND_FIRST_NAME:
            first += " " + self.random.choices(FIRST_NAMES, self._first_weights)[0]
        return first

    def last_name(self) -> str:
        last = self.random.choices(SURNAMES, self._last_weights)[0]
        if self.random.random() < _DOUBLE_BARRELLED:
            last += "-" + self.random.choices(SURNAMES, self._last_weights)[0]
        return last

    def pupil(self, school_number: int, number: int, today: date) -> dict[str, str]:
        """An import row; the UPN is unique per (school_number, number)."""
        year_index = self.random.randrange(len(_YEAR_GROUPS))
        # Reception pupils are 4 to 5; each year group a year older.
        born = today - timedelta(days=365 * (4 + year_index) + self.random.randrange(365))
        return {
            "upn": f"B{school_number:04d}{number:08d}",
            "first_name": self.first_name(),
            "last_name": self.last_name(),
            "year_group": _YEAR_GROUPS[year_index],
            "date_of_birth": born.isoformat(),
        }
