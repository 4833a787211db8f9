"""Trusts, schools, staff accounts, roles, sessions and reset tokens, with the event tables."""

import datetime

import sqlalchemy as sa
from alembic import op

from haven_runtime.outbox_tables import create_event_tables, drop_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created_at() -> sa.Column[datetime.datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "trusts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        _created_at(),
        sa.UniqueConstraint("name", name="trusts_name_key"),
        sa.CheckConstraint("name <> ''", name="trusts_name_not_empty"),
    )
    op.create_table(
        "schools",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("trust_id", sa.Uuid, sa.ForeignKey("trusts.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        _created_at(),
        sa.UniqueConstraint("trust_id", "name", name="schools_trust_id_name_key"),
        sa.CheckConstraint("name <> ''", name="schools_name_not_empty"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("password_changed_at", sa.DateTime(timezone=True)),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        _created_at(),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("email", name="users_email_key"),
        # Emails are stored in canonical lower case, so the unique constraint is
        # also case-insensitive.
        sa.CheckConstraint("email = lower(email)", name="users_email_lower_case"),
    )
    op.create_table(
        "memberships",
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("school_id", sa.Uuid, sa.ForeignKey("schools.id"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("user_id", "school_id"),
        sa.CheckConstraint("role IN ('staff', 'dsl', 'admin')", name="memberships_role"),
    )
    op.create_index("memberships_school_id", "memberships", ["school_id", "role"])
    op.create_table(
        "trust_roles",
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("trust_id", sa.Uuid, sa.ForeignKey("trusts.id"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("user_id", "trust_id", "role"),
        sa.CheckConstraint("role IN ('trust_dsl', 'trust_admin')", name="trust_roles_role"),
    )
    op.create_index("trust_roles_trust_id", "trust_roles", ["trust_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("csrf_hash", sa.Text, nullable=False),
        _created_at(),
        sa.Column(
            "last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("client", sa.Text, nullable=False, server_default=""),
        sa.Column("client_address", sa.Text, nullable=False, server_default=""),
        sa.Column("elevated_until", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="sessions_token_hash_key"),
    )
    op.create_index("sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.Text, nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("token_hash", name="password_reset_tokens_token_hash_key"),
    )
    op.create_index(
        "password_reset_tokens_user_id", "password_reset_tokens", ["user_id", "created_at"]
    )
    create_event_tables(op)


def downgrade() -> None:
    drop_event_tables(op)
    for table in (
        "password_reset_tokens",
        "sessions",
        "trust_roles",
        "memberships",
        "users",
        "schools",
        "trusts",
    ):
        op.drop_table(table)
