"""Login throttling and lock, rate limits, the TOTP soft key, recovery codes, the audit log.

Also: a per-trust elevation length, and `users.locked_until` (unused until now)
renamed to what it holds, the time before which no login attempt is checked.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _at(name: str, **kwargs: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    op.add_column("trusts", sa.Column("elevation_minutes", sa.Integer))
    op.create_check_constraint(
        "trusts_elevation_minutes_range",
        "trusts",
        "elevation_minutes > 0 AND elevation_minutes <= 1440",
    )

    op.alter_column("users", "locked_until", new_column_name="login_delayed_until")
    op.add_column("users", _at("locked_at"))
    op.add_column("users", sa.Column("totp_secret", sa.LargeBinary))
    op.add_column("users", sa.Column("totp_pending_secret", sa.LargeBinary))
    op.add_column("users", _at("totp_enrolled_at"))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger))

    # The session list and the idle check read by user and by last activity.
    op.create_index("sessions_user_id_last_seen_at", "sessions", ["user_id", "last_seen_at"])

    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code_hash", sa.Text, nullable=False),
        _at("created_at", nullable=False, server_default=sa.func.now()),
        _at("used_at"),
        sa.UniqueConstraint("user_id", "code_hash", name="recovery_codes_user_id_code_hash_key"),
    )

    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.Text, primary_key=True),
        _at("window_started_at", nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("rate_limits_window_started_at", "rate_limits", ["window_started_at"])

    op.create_table(
        "unknown_login_throttles",
        sa.Column("email_key", sa.Text, primary_key=True),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        _at("login_delayed_until"),
        _at("last_failed_at", nullable=False),
    )
    op.create_index(
        "unknown_login_throttles_last_failed_at", "unknown_login_throttles", ["last_failed_at"]
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid, primary_key=True),
        # clock_timestamp, not now(): events of one transaction keep their order.
        _at("at", nullable=False, server_default=sa.func.clock_timestamp()),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Uuid),
        sa.Column("actor_name", sa.Text, nullable=False, server_default=""),
        sa.Column("subject_user_id", sa.Uuid),
        sa.Column("subject_email", sa.Text, nullable=False, server_default=""),
        sa.Column("school_id", sa.Uuid),
        sa.Column("trust_id", sa.Uuid),
        sa.Column("school_ids", postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
        sa.Column("trust_ids", postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
        sa.Column("client_address", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("audit_events_at_id", "audit_events", [sa.text("at DESC"), sa.text("id DESC")])
    op.create_index(
        "audit_events_school_ids", "audit_events", ["school_ids"], postgresql_using="gin"
    )
    op.create_index("audit_events_trust_ids", "audit_events", ["trust_ids"], postgresql_using="gin")
    # Append-only, whoever connects: the service's own code could not rewrite
    # history even if it tried (a superuser can drop the trigger; that is visible).
    op.execute(
        """
        CREATE FUNCTION haven_audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION haven_audit_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION haven_audit_events_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION IF EXISTS haven_audit_events_append_only()")
    op.drop_table("unknown_login_throttles")
    op.drop_table("rate_limits")
    op.drop_table("recovery_codes")
    op.drop_index("sessions_user_id_last_seen_at", table_name="sessions")
    for column in (
        "totp_last_step",
        "totp_enrolled_at",
        "totp_pending_secret",
        "totp_secret",
        "locked_at",
    ):
        op.drop_column("users", column)
    op.alter_column("users", "login_delayed_until", new_column_name="locked_until")
    op.drop_column("trusts", "elevation_minutes")
