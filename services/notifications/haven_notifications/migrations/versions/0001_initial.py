"""Alerts, the email queue with its attempts, and the event tables.

Inserting into emails notifies channel "haven_email", which wakes the
dispatcher as soon as the transaction that queued the mail commits.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from haven_runtime.outbox_tables import create_event_tables, drop_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Text, nullable=False),
        sa.Column("school_id", sa.Text, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("student_display_name", sa.Text, nullable=False),
        sa.Column("categories", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("recorded_by_id", sa.Text, nullable=False),
        sa.Column("recorded_by_name", sa.Text, nullable=False),
        sa.Column("occurred_at", TZ),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("read_at", TZ),
        sa.UniqueConstraint("user_id", "incident_id", name="alerts_one_per_user_and_incident"),
    )
    # A member's page of alerts, newest first, and their unread count.
    op.create_index("alerts_by_user_newest", "alerts", ["user_id", "created_at", "id"])
    op.create_index(
        "alerts_unread_by_user", "alerts", ["user_id"], postgresql_where=sa.text("read_at IS NULL")
    )

    op.create_table(
        "emails",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text),
        sa.Column("message_id", sa.Text),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", TZ),
        sa.Column("expires_at", TZ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'abandoned')", name="emails_status_known"
        ),
    )
    # The dispatcher's question: which unfinished emails are due?
    op.create_index(
        "emails_due",
        "emails",
        ["next_attempt_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )
    op.create_table(
        "email_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "email_id",
            sa.Uuid,
            sa.ForeignKey("emails.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("email_attempts_by_email", "email_attempts", ["email_id", "at"])
    op.execute(
        """
        CREATE FUNCTION haven_email_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('haven_email', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER emails_notify AFTER INSERT ON emails "
        "FOR EACH STATEMENT EXECUTE FUNCTION haven_email_notify()"
    )

    create_event_tables(op)


def downgrade() -> None:
    drop_event_tables(op)
    op.execute("DROP TRIGGER IF EXISTS emails_notify ON emails")
    op.execute("DROP FUNCTION IF EXISTS haven_email_notify()")
    op.drop_table("email_attempts")
    op.drop_table("emails")
    op.drop_table("alerts")
