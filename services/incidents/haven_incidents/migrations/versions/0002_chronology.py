"""Chronologies: an index to read a pupil's incidents newest first, and their audit rows.

The audit trail (incident_views) may now name a pupil: reading a chronology
leaves a row for the pupil, besides one per incident the page showed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The new index leads with student_id, so it also answers what the old one did.
    op.create_index(
        "incidents_student_chronology", "incidents", ["student_id", "occurred_at", "id"]
    )
    op.drop_index("incidents_student", table_name="incidents")

    op.add_column(
        "incident_views",
        sa.Column("student_id", sa.Uuid, sa.ForeignKey("students.id"), nullable=True),
    )
    op.alter_column("incident_views", "incident_id", existing_type=sa.Uuid, nullable=True)
    op.create_check_constraint(
        "incident_views_subject",
        "incident_views",
        "incident_id IS NOT NULL OR student_id IS NOT NULL",
    )
    op.create_index(
        "incident_views_student",
        "incident_views",
        ["student_id", "at"],
        postgresql_where=sa.text("student_id IS NOT NULL"),
    )


def downgrade() -> None:
    # Rows about a pupil alone cannot survive a NOT NULL incident_id, and the
    # audit trail is never thrown away to make a downgrade fit.
    pupil_rows = op.get_bind().execute(
        sa.text("SELECT 1 FROM incident_views WHERE incident_id IS NULL LIMIT 1")
    )
    if pupil_rows.first() is not None:
        raise RuntimeError("incident_views records chronology reads; refusing to drop them")
    op.drop_index("incident_views_student", table_name="incident_views")
    op.drop_constraint("incident_views_subject", "incident_views", type_="check")
    op.alter_column("incident_views", "incident_id", existing_type=sa.Uuid, nullable=False)
    op.drop_column("incident_views", "student_id")
    op.create_index("incidents_student", "incidents", ["student_id"])
    op.drop_index("incidents_student_chronology", table_name="incidents")
