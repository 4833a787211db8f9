"""The incidents database, as SQLAlchemy typed models.

Ids this service creates are UUIDs. Ids that identity owns (schools, trusts,
users) are opaque text: this service keeps copies of them, never their meaning.
The first migration creates the same tables; change both together.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from haven_incidents.domain import names


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), str: Text}


class School(Base):
    """A school identity told us about (SchoolCreated)."""

    __tablename__ = "schools"

    id: Mapped[str] = mapped_column(primary_key=True)
    trust_id: Mapped[str]
    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        Index("categories_school_name", "school_id", text("lower(name)"), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.id"))
    name: Mapped[str]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set once when an admin retires it: no longer offered; past incidents keep it.
    retired_at: Mapped[datetime | None]


class Agency(Base):
    __tablename__ = "agencies"
    __table_args__ = (Index("agencies_school_name", "school_id", text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.id"))
    name: Mapped[str]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set once when an admin retires it: no longer offered; past incidents keep it.
    retired_at: Mapped[datetime | None]


class Student(Base):
    """A pupil, imported from the school's MIS; the UPN is the school's key for them.

    No foreign key to schools: an admin may import pupils before this service
    has heard of the school, and the verified token already vouches for it.
    """

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "upn", name="students_school_upn"),
        # The name search's reading orders (migration 0004).
        Index("students_school_last", "school_id", "search_last", "search_first", "id"),
        Index("students_last", "search_last", "search_first", "id"),
        Index("students_school_first", "school_id", "search_first", "search_last", "id"),
        Index("students_first", "search_first", "search_last", "id"),
        Index(
            "students_last_multiword",
            "search_last",
            "search_first",
            "id",
            postgresql_where=text("search_last LIKE '% %'"),
        ),
        Index(
            "students_first_multiword",
            "search_first",
            "search_last",
            "id",
            postgresql_where=text("search_first LIKE '% %'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    school_id: Mapped[str]
    upn: Mapped[str]
    first_name: Mapped[str]
    last_name: Mapped[str]
    year_group: Mapped[str]
    date_of_birth: Mapped[date]
    # Normalised (lower case, no accents) names, "C"-collated so that a prefix
    # is an index range and results come out in index order (migration 0004).
    search_first: Mapped[str] = mapped_column(Text(collation="C"))
    search_last: Mapped[str] = mapped_column(Text(collation="C"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def display_name(self) -> str:
        return names.display_name(self.first_name, self.last_name)


class StudentNameWord(Base):
    """One normalised word of a pupil's name, for prefix search in any word order.

    The word is "C"-collated so that a plain btree index on (school_id, word)
    answers `word >= 'jo' AND word < 'jp'` (a prefix match) in any plan; it
    plays the part of a text_pattern_ops index.
    """

    __tablename__ = "student_name_words"
    __table_args__ = (Index("student_name_words_prefix", "school_id", "word"),)

    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[str]
    word: Mapped[str] = mapped_column(Text(collation="C"))


class Incident(Base):
    """A concern about a pupil, as recorded; permanent (there is no edit or delete)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "incidents_idempotency",
            "recorded_by",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("incidents_school_recorded", "school_id", "recorded_at"),
        # A pupil's chronology, newest first (read backwards).
        Index("incidents_student_chronology", "student_id", "occurred_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("schools.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("students.id"))
    description: Mapped[str]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str]
    recorded_by_name: Mapped[str]
    idempotency_key: Mapped[str | None]

    student: Mapped[Student] = relationship(lazy="joined", innerjoin=True)
    categories: Mapped[list[IncidentCategory]] = relationship(
        lazy="selectin", order_by="IncidentCategory.position"
    )
    linked_students: Mapped[list[IncidentLinkedStudent]] = relationship(
        lazy="selectin", order_by="IncidentLinkedStudent.position"
    )
    body_marks: Mapped[list[IncidentBodyMark]] = relationship(
        lazy="selectin", order_by="IncidentBodyMark.number"
    )
    recipients: Mapped[list[IncidentRecipient]] = relationship(
        lazy="selectin", order_by="IncidentRecipient.position"
    )
    agencies: Mapped[list[IncidentAgency]] = relationship(
        lazy="selectin", order_by="IncidentAgency.position"
    )
    files: Mapped[list[IncidentFile]] = relationship(
        lazy="selectin", order_by="IncidentFile.position"
    )
    addenda: Mapped[list[IncidentAddendum]] = relationship(
        lazy="selectin", order_by=lambda: (IncidentAddendum.created_at, IncidentAddendum.id)
    )


class IncidentCategory(Base):
    __tablename__ = "incident_categories"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("categories.id"), primary_key=True)
    position: Mapped[int]

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)


class IncidentLinkedStudent(Base):
    __tablename__ = "incident_linked_students"
    __table_args__ = (Index("incident_linked_students_student", "student_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("students.id"), primary_key=True)
    position: Mapped[int]

    student: Mapped[Student] = relationship(lazy="joined", innerjoin=True)


class IncidentBodyMark(Base):
    __tablename__ = "incident_body_marks"
    __table_args__ = (
        CheckConstraint("side IN ('front', 'back')", name="incident_body_marks_side"),
        CheckConstraint("x BETWEEN 0 AND 1 AND y BETWEEN 0 AND 1", name="incident_body_marks_xy"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    side: Mapped[str]
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    note: Mapped[str]


class IncidentRecipient(Base):
    """Who was alerted, with their name as it was then.

    `named` marks the staff the author chose; the others were alerted as the
    school's DSLs, and read the incident only while they are DSLs.
    """

    __tablename__ = "incident_recipients"
    __table_args__ = (Index("incident_recipients_user", "user_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    named: Mapped[bool]
    position: Mapped[int]


class IncidentAgency(Base):
    __tablename__ = "incident_agencies"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    position: Mapped[int]

    agency: Mapped[Agency] = relationship(lazy="joined", innerjoin=True)


class IncidentFile(Base):
    """A file (owned by the files service) the author attached."""

    __tablename__ = "incident_files"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    file_id: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[int]


class IncidentAddendum(Base):
    """A correction or follow-up to an incident, with its author as they were named then.

    Append-only like the incident (a trigger refuses UPDATE and DELETE).
    """

    __tablename__ = "incident_addenda"
    __table_args__ = (Index("incident_addenda_incident", "incident_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"))
    text: Mapped[str]
    author_id: Mapped[str]
    author_name: Mapped[str]
    created_at: Mapped[datetime]


class IncidentView(Base):
    """The audit trail: who opened which incident, or read which pupil's chronology, and when.

    Reading a chronology leaves one row for the pupil (no incident) and one for
    each incident the page showed, so an incident's trail lists everyone who
    saw it, however they came to it. Files' FileDownloaded events add a row
    per download. Append-only: a trigger refuses UPDATE and DELETE.
    """

    __tablename__ = "incident_views"
    __table_args__ = (
        Index("incident_views_incident_page", "incident_id", "at", "id"),
        Index(
            "incident_views_student",
            "student_id",
            "at",
            postgresql_where=text("student_id IS NOT NULL"),
        ),
        CheckConstraint(
            "incident_id IS NOT NULL OR student_id IS NOT NULL", name="incident_views_subject"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id"))
    # The pupil whose chronology was read (empty for a single incident opened).
    student_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("students.id"))
    user_id: Mapped[str]
    user_name: Mapped[str]
    action: Mapped[str]
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Where the reader was, as the gateway saw it (empty when unknown).
    client_address: Mapped[str | None]
    # The file given out, for a "file_downloaded" row.
    file_id: Mapped[str | None]
