"""The files table, and the event tables every service has."""

import sqlalchemy as sa
from alembic import op

from haven_runtime.outbox_tables import create_event_tables, drop_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("school_id", sa.Text, nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Text),
        sa.Column("storage_key", sa.Text, nullable=False, unique=True),
        sa.Column("wrapped_data_key", sa.LargeBinary, nullable=False),
        sa.Column("master_key_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('staged', 'attached')", name="files_status_known"),
        sa.CheckConstraint(
            "(status = 'attached') = (incident_id IS NOT NULL AND attached_at IS NOT NULL)",
            name="files_attached_has_incident",
        ),
    )
    op.create_index("files_by_incident", "files", ["incident_id"])
    op.create_index(
        "files_staged_by_age",
        "files",
        ["created_at"],
        postgresql_where=sa.text("status = 'staged'"),
    )
    create_event_tables(op)


def downgrade() -> None:
    drop_event_tables(op)
    op.drop_table("files")
