"""The two tables every service's database has: the outbox and the events it handled.

Defined once here; each service's first migration creates them with
`create_event_tables()`, and the insert trigger wakes the relay with NOTIFY.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)

NOTIFY_CHANNEL = "haven_outbox"

event_metadata = MetaData()

outbox = Table(
    "outbox",
    event_metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
)

processed_events = Table(
    "processed_events",
    event_metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)


def create_event_tables(op) -> None:  # type: ignore[no-untyped-def]
    """Alembic operations for a service's first migration."""
    bind = op.get_bind()
    event_metadata.create_all(bind)
    op.execute("CREATE INDEX outbox_pending ON outbox (created_at) WHERE published_at IS NULL")
    op.execute(
        f"""
        CREATE FUNCTION haven_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION haven_outbox_notify()"
    )


def drop_event_tables(op) -> None:  # type: ignore[no-untyped-def]
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS haven_outbox_notify()")
    event_metadata.drop_all(op.get_bind())
