"""Schools, categories, agencies, pupils, incidents, and the event tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from haven_runtime.outbox_tables import create_event_tables, drop_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _created_at() -> sa.Column:
    return sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now())


def _incident_id() -> sa.Column:
    return sa.Column("incident_id", sa.Uuid, sa.ForeignKey("incidents.id"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("trust_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        _created_at(),
    )
    for table in ("categories", "agencies"):
        op.create_table(
            table,
            sa.Column("id", sa.Uuid, primary_key=True),
            sa.Column("school_id", sa.Text, sa.ForeignKey("schools.id"), nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
            _created_at(),
        )
        op.create_index(
            f"{table}_school_name", table, ["school_id", sa.text("lower(name)")], unique=True
        )

    op.create_table(
        "students",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("school_id", sa.Text, nullable=False),
        sa.Column("upn", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text, nullable=False),
        sa.Column("last_name", sa.Text, nullable=False),
        sa.Column("year_group", sa.Text, nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("search_first", sa.Text, nullable=False),
        sa.Column("search_last", sa.Text, nullable=False),
        _created_at(),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("school_id", "upn", name="students_school_upn"),
    )
    op.create_table(
        "student_name_words",
        sa.Column(
            "student_id",
            sa.Uuid,
            sa.ForeignKey("students.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("school_id", sa.Text, nullable=False),
        sa.Column("word", sa.Text(collation="C"), nullable=False),
    )
    op.create_index("student_name_words_prefix", "student_name_words", ["school_id", "word"])

    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("school_id", sa.Text, sa.ForeignKey("schools.id"), nullable=False),
        sa.Column("student_id", sa.Uuid, sa.ForeignKey("students.id"), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_by_name", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text),
    )
    op.create_index(
        "incidents_idempotency",
        "incidents",
        ["recorded_by", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("incidents_school_recorded", "incidents", ["school_id", "recorded_at"])
    op.create_index("incidents_student", "incidents", ["student_id"])

    op.create_table(
        "incident_categories",
        _incident_id(),
        sa.Column("category_id", sa.Uuid, sa.ForeignKey("categories.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "incident_linked_students",
        _incident_id(),
        sa.Column("student_id", sa.Uuid, sa.ForeignKey("students.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("incident_linked_students_student", "incident_linked_students", ["student_id"])
    op.create_table(
        "incident_body_marks",
        _incident_id(),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("x", sa.Float, nullable=False),
        sa.Column("y", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.CheckConstraint("side IN ('front', 'back')", name="incident_body_marks_side"),
        sa.CheckConstraint(
            "x BETWEEN 0 AND 1 AND y BETWEEN 0 AND 1", name="incident_body_marks_xy"
        ),
    )
    op.create_table(
        "incident_recipients",
        _incident_id(),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("named", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("incident_recipients_user", "incident_recipients", ["user_id"])
    op.create_table(
        "incident_agencies",
        _incident_id(),
        sa.Column("agency_id", sa.Uuid, sa.ForeignKey("agencies.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "incident_files",
        _incident_id(),
        sa.Column("file_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "incident_views",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("incident_id", sa.Uuid, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("incident_views_incident", "incident_views", ["incident_id", "at"])

    create_event_tables(op)


def downgrade() -> None:
    drop_event_tables(op)
    for table in (
        "incident_views",
        "incident_files",
        "incident_agencies",
        "incident_recipients",
        "incident_body_marks",
        "incident_linked_students",
        "incident_categories",
        "incidents",
        "student_name_words",
        "students",
        "agencies",
        "categories",
        "schools",
    ):
        op.drop_table(table)
