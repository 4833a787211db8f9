"""Name search served in index order: the first rows found are the ones shown.

- students.search_first / search_last become "C"-collated (they hold folded
  letters, digits and spaces), so a prefix is a plain btree range and the
  result order is the index order.
- students_school_last (school_id, search_last, search_first, id): staff of
  one school; the surname matches come out already sorted, so a typed letter
  reads the first `limit` entries and stops.
- students_last (search_last, search_first, id): a trust-wide search, where
  nearly every row passes the school filter, reads in the same way.
- students_school_first / students_first: the same for first names, read
  only when the surnames did not fill the page.
- students_last_multiword / students_first_multiword: partial indexes of the
  names of several words, for "smith j" matching "Smith Jones, Amy": two-word
  queries read one-word names by both prefixes and these apart.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    "students_school_last": ["school_id", "search_last", "search_first", "id"],
    "students_last": ["search_last", "search_first", "id"],
    "students_school_first": ["school_id", "search_first", "search_last", "id"],
    "students_first": ["search_first", "search_last", "id"],
}
MULTIWORD = {
    "students_last_multiword": ("search_last", ["search_last", "search_first", "id"]),
    "students_first_multiword": ("search_first", ["search_first", "search_last", "id"]),
}


def upgrade() -> None:
    for column in ("search_first", "search_last"):
        op.alter_column("students", column, type_=sa.Text(collation="C"), existing_nullable=False)
    for name, columns in INDEXES.items():
        op.create_index(name, "students", columns)
    for name, (column, columns) in MULTIWORD.items():
        op.create_index(name, "students", columns, postgresql_where=sa.text(f"{column} LIKE '% %'"))


def downgrade() -> None:
    for name in [*INDEXES, *MULTIWORD]:
        op.drop_index(name, "students")
    for column in ("search_first", "search_last"):
        op.alter_column("students", column, type_=sa.Text(), existing_nullable=False)
