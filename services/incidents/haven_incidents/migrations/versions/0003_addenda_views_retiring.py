"""Addenda, where each view came from, retired categories and agencies, append-only records.

- incident_addenda: corrections and follow-up, one row each, never editing the incident.
- incident_views gains client_address (where the reader was) and file_id (for downloads).
- categories and agencies gain retired_at: no longer offered, still named by past incidents.
- incidents, incident_addenda and incident_views refuse UPDATE and DELETE: a record
  of concern and its audit trail are permanent, whatever code or person asks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("incidents", "incident_addenda", "incident_views")


def upgrade() -> None:
    op.create_table(
        "incident_addenda",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("incident_id", sa.Uuid, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author_id", sa.Text, nullable=False),
        sa.Column("author_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("incident_addenda_incident", "incident_addenda", ["incident_id", "created_at"])

    op.execute("ALTER TABLE incident_views ADD COLUMN IF NOT EXISTS client_address text")
    op.execute("ALTER TABLE incident_views ADD COLUMN IF NOT EXISTS file_id text")
    # An incident's trail is read newest first and paged by (at, id).
    op.create_index("incident_views_incident_page", "incident_views", ["incident_id", "at", "id"])
    op.drop_index("incident_views_incident", table_name="incident_views")

    for table in ("categories", "agencies"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS retired_at timestamptz")

    op.execute(
        """
        CREATE FUNCTION haven_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION haven_refuse_change()"
        )
        # TRUNCATE skips row triggers; refuse it too.
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change()"
        )


def downgrade() -> None:
    # Addenda, and where views and downloads came from, are kept records; a
    # downgrade that would throw them away refuses instead.
    bind = op.get_bind()
    kept = bind.execute(
        sa.text(
            "SELECT 1 FROM incident_addenda UNION ALL SELECT 1 FROM incident_views"
            " WHERE coalesce(client_address, '') <> '' OR file_id IS NOT NULL LIMIT 1"
        )
    )
    if kept.first() is not None:
        raise RuntimeError("addenda or audited addresses are on record; refusing to drop them")
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS haven_refuse_change()")
    for table in ("categories", "agencies"):
        op.drop_column(table, "retired_at")
    op.create_index("incident_views_incident", "incident_views", ["incident_id", "at"])
    op.drop_index("incident_views_incident_page", table_name="incident_views")
    op.drop_table("incident_addenda")
    op.drop_column("incident_views", "file_id")
    op.drop_column("incident_views", "client_address")
