"""The files table (one row per stored file) and the objects no row owns yet or any more."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    LargeBinary,
    Text,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class StoredFileRow(Base):
    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("status IN ('staged', 'attached')", name="files_status_known"),
        CheckConstraint(
            "(status = 'attached') = (incident_id IS NOT NULL AND attached_at IS NOT NULL)",
            name="files_attached_has_incident",
        ),
        Index("files_by_incident", "incident_id"),
        # The clean-up of staged files never attached walks this.
        Index("files_staged_by_age", "created_at", postgresql_where="status = 'staged'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Ids of other services are opaque strings.
    school_id: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(Text)
    # Display only, sanitised; never used to name the stored object.
    filename: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(Text)
    # Hex SHA-256 of the plaintext, checked again on every download.
    sha256: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[str | None] = mapped_column(Text)
    # A random name in the bucket ("files/<uuid>"), unrelated to id and filename.
    storage_key: Mapped[str] = mapped_column(Text, unique=True)
    # The file's data key, wrapped by the master key named by master_key_id.
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UnclaimedObjectRow(Base):
    """An object no file row owns (an upload in progress, or an expired file's)."""

    __tablename__ = "unclaimed_objects"

    storage_key: Mapped[str] = mapped_column(Text, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Not before this: until then an upload may still be writing the object.
    remove_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
