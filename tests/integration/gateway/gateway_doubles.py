"""Small real gRPC servers that stand in for the four services, answering from dicts.

The doubles answer from dicts but run behind the real haven_runtime interceptor,
so the internal token the gateway forwards is verified exactly as a service
would, errors travel as real gRPC statuses with details, and the health service
is the standard one. The whole stack end to end is tested in tests/e2e.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health

from haven.files.v1 import files_pb2, files_pb2_grpc
from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from haven.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from haven_gateway.settings import GatewaySettings
from haven_runtime.auth import Principal, TokenSigner
from haven_runtime.context import current_principal
from haven_runtime.errors import (
    Conflict,
    FailedPrecondition,
    FieldViolation,
    NotFound,
    PermissionDenied,
    ServiceError,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)

from .identity_security_double import SecurityRpcs, SoftKeys, when

SCHOOL = "school-1"
OTHER_SCHOOL = "school-2"
STRONG_PASSWORD = "correct horse battery staple"


def stamp(iso: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(iso)
    return t


@dataclass
class Session:
    user: identity_pb2.User
    csrf_token: str
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 8, tzinfo=UTC))
    client: str = ""
    client_address: str = ""
    elevated_until: datetime | None = None


@dataclass
class Record:
    """What the doubles saw: requests, callers and metadata, for the tests to check."""

    calls: list[tuple[str, Any, dict[str, str], str | None]] = field(default_factory=list)

    def add(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        try:
            caller = current_principal().user_id
        except ServiceError:
            caller = None
        self.calls.append((method, request, metadata, caller))

    def of(self, method: str) -> list[tuple[Any, dict[str, str], str | None]]:
        return [(r, m, c) for name, r, m, c in self.calls if name == method]


def user(user_id: str, email: str, *schools: str, role: str = "staff") -> identity_pb2.User:
    return identity_pb2.User(
        id=user_id,
        email=email,
        name=email.split("@")[0].title(),
        memberships=[
            identity_pb2.Membership(school_id=s, school_name=f"School {s}", role=role)
            for s in schools
        ],
    )


class Identity(SecurityRpcs, identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, signer: TokenSigner, record: Record):
        self.signer, self.record = signer, record
        alice = user("u-alice", "alice@school.org", SCHOOL)
        bob = user("u-bob", "bob@school.org", SCHOOL, OTHER_SCHOOL)
        dee = user("u-dee", "dee@school.org", SCHOOL, role="dsl")
        ada = user("u-ada", "ada@school.org", SCHOOL, role="admin")
        self.users = {u.id: u for u in (alice, bob, dee, ada)}
        self.accounts = {
            "alice@school.org": (STRONG_PASSWORD, alice),
            "bob@school.org": (STRONG_PASSWORD, bob),
        }
        self.sessions = {
            "session-alice": Session(alice, "csrf-alice"),
            "session-bob": Session(bob, "csrf-bob"),
            "session-dee": Session(dee, "csrf-dee"),
            "session-ada": Session(ada, "csrf-ada"),
        }
        self.reset_tokens = {"reset-good"}
        self.soft_keys = SoftKeys(enrolled={"u-alice", "u-dee"})
        self.disabled: set[str] = set()
        self.locked = {"locked@school.org"}
        # Set, Authenticate waits for it: a slow identity.
        self.hold: asyncio.Event | None = None

    async def Authenticate(self, request, context):
        self.record.add("Authenticate", request, context)
        if self.hold is not None:
            await self.hold.wait()
        session = self.sessions.get(request.session_token)
        if session is None or session.user.id in self.disabled:
            raise Unauthenticated("session unknown or ended")
        # Read afresh on every call, as identity does: roles, soft key, elevation.
        current = identity_pb2.User()
        current.CopyFrom(session.user)
        current.totp_enrolled = current.id in self.soft_keys.enrolled
        if session.elevated_until is not None:
            current.elevated_until.CopyFrom(when(session.elevated_until))
        schools = {m.school_id: m.role for m in current.memberships}
        token = self.signer.sign(
            Principal(
                current.id,
                session.session_id,
                current.name,
                current.email,
                schools,
                elevated_until=session.elevated_until,
            )
        )
        return identity_pb2.AuthenticateResponse(
            user=current,
            internal_token=token,
            csrf_valid=bool(request.csrf_token) and request.csrf_token == session.csrf_token,
            session_id=session.session_id,
        )

    async def Login(self, request, context):
        self.record.add("Login", request, context)
        if request.email == "throttled@school.org":
            # Named unlike the API on purpose: the gateway says too_many_attempts.
            raise TooManyRequests("slow down", reason="too_many_requests", retry_after=120)
        if request.email in self.locked:
            # Not what identity answers; the gateway must not let it through if it did.
            raise PermissionDenied("this account is locked", reason="account_locked")
        password, account = self.accounts.get(request.email, (None, None))
        if account is None or password != request.password:
            raise Unauthenticated("wrong email or password", reason="invalid_credentials")
        token = f"session-{uuid.uuid4().hex}"
        self.sessions[token] = Session(
            account,
            f"csrf-{uuid.uuid4().hex}",
            client=request.client,
            client_address=request.client_address,
        )
        return identity_pb2.LoginResponse(
            session_token=token,
            csrf_token=self.sessions[token].csrf_token,
            expires_at=stamp("2030-01-01T08:00:00Z"),
            user=account,
        )

    async def Logout(self, request, context):
        self.record.add("Logout", request, context)
        current_principal()
        self.sessions.pop(request.session_token, None)
        return identity_pb2.LogoutResponse()

    async def RequestPasswordReset(self, request, context):
        self.record.add("RequestPasswordReset", request, context)
        if request.email == "flood@school.org":
            raise TooManyRequests("slow down", retry_after=30)
        return identity_pb2.RequestPasswordResetResponse()

    async def CheckPasswordStrength(self, request, context):
        self.record.add("CheckPasswordStrength", request, context)
        return strength_of(request.password)

    async def ConfirmPasswordReset(self, request, context):
        self.record.add("ConfirmPasswordReset", request, context)
        if request.token not in self.reset_tokens:
            raise FailedPrecondition("unknown, used or expired", reason="invalid_token")
        verdict = strength_of(request.password)
        if not verdict.acceptable:
            return identity_pb2.ConfirmPasswordResetResponse(weak=True, strength=verdict)
        self.reset_tokens.discard(request.token)
        return identity_pb2.ConfirmPasswordResetResponse()

    async def ListSchools(self, request, context):
        self.record.add("ListSchools", request, context)
        principal = current_principal()
        return identity_pb2.ListSchoolsResponse(
            items=[
                identity_pb2.School(id=s, name=f"School {s}", trust_id="t-1")
                for s in principal.schools
            ]
        )

    async def ListStaff(self, request, context):
        self.record.add("ListStaff", request, context)
        if not current_principal().belongs_to(request.school_id):
            raise NotFound("no such school")
        return identity_pb2.ListStaffResponse(
            items=[
                identity_pb2.StaffMember(
                    id="u-dsl",
                    name="Dee Sell",
                    email="dsl@school.org",
                    role="dsl",
                    school_id=request.school_id,
                )
            ]
        )

    async def CreateSchool(self, request, context):
        self.record.add("CreateSchool", request, context)
        current_principal()
        return identity_pb2.School(id="school-new", name=request.name, trust_id=request.trust_id)

    async def ImportStaff(self, request, context):
        self.record.add("ImportStaff", request, context)
        errors = [
            identity_pb2.ImportError(line=position, field="email", message="not an email address")
            for position, row in enumerate(request.items, start=1)
            if "@" not in row.email
        ]
        return identity_pb2.ImportStaffResponse(
            created=len(request.items) - len(errors), updated=0, errors=errors
        )


def strength_of(password: str) -> identity_pb2.PasswordStrength:
    score = 4 if len(password) >= 20 else 1
    return identity_pb2.PasswordStrength(
        score=score,
        label="very strong" if score == 4 else "weak",
        acceptable=score >= 3,
        warning="" if score == 4 else "This is similar to a commonly used password.",
        suggestions=[] if score == 4 else ["Add another word or two."],
    )


class Incidents(incidents_pb2_grpc.IncidentsServiceServicer):
    def __init__(self, record: Record):
        self.record = record
        self.incidents: dict[str, incidents_pb2.Incident] = {}
        self.by_key: dict[str, str] = {}
        self.retirable = {"category": {"cat-1"}, "agency": {"ag-1"}}
        self.retired: set[tuple[str, str]] = set()

    async def ListStudentIncidents(self, request, context):
        self.record.add("ListStudentIncidents", request, context)
        principal = current_principal()
        if request.student_id != "st-1" or not principal.belongs_to(SCHOOL):
            raise NotFound("no such pupil")
        if not principal.is_dsl_of(SCHOOL):
            raise PermissionDenied("DSLs only")
        if not principal.is_elevated:
            raise PermissionDenied("elevate first", reason="elevation_required")
        items = [i for i in self.incidents.values() if i.student.id == request.student_id]
        items.sort(key=lambda i: i.recorded_at.ToDatetime(), reverse=True)
        return incidents_pb2.ListStudentIncidentsResponse(
            items=items[: request.limit], next_cursor=""
        )

    async def GetIncident(self, request, context):
        self.record.add("GetIncident", request, context)
        incident = self.incidents.get(request.incident_id)
        if incident is None or not current_principal().belongs_to(incident.school_id):
            raise NotFound("no such incident")
        return incident

    async def RecordIncident(self, request, context):
        self.record.add("RecordIncident", request, context)
        principal = current_principal()
        violations = []
        if request.student_id != "st-1":
            violations.append(FieldViolation("student_id", "no such pupil in this school"))
        violations += [
            FieldViolation(f"category_ids[{i}]", "no such category")
            for i, c in enumerate(request.category_ids)
            if c != "cat-1"
        ]
        if violations:
            raise ValidationFailed(violations)
        if request.idempotency_key in self.by_key:
            return self.incidents[self.by_key[request.idempotency_key]]
        incident = incidents_pb2.Incident(
            id=f"inc-{uuid.uuid4().hex[:8]}",
            school_id=request.school_id,
            student=incidents_pb2.StudentRef(id="st-1", display_name="Sam Pupil"),
            description=request.description,
            categories=[incidents_pb2.NamedRef(id="cat-1", name="Physical abuse")],
            body_map=request.body_map,
            occurred_at=request.occurred_at
            if request.HasField("occurred_at")
            else stamp("2026-11-30T09:00:00Z"),
            recorded_at=stamp("2026-11-30T10:00:00Z"),
            recorded_by=incidents_pb2.NamedRef(id=principal.user_id, name=principal.name),
            alerted_staff=[
                incidents_pb2.NamedRef(id=i, name="Dee Sell") for i in request.alert_staff_ids
            ],
            file_ids=request.file_ids,
        )
        self.incidents[incident.id] = incident
        if request.idempotency_key:
            self.by_key[request.idempotency_key] = incident.id
        return incident

    def seen_by_caller(self, incident_id: str) -> incidents_pb2.Incident:
        """The incident if the caller may see it: author, alerted, or a DSL of its school."""
        principal = current_principal()
        incident = self.incidents.get(incident_id)
        if incident is None or not (
            principal.user_id == incident.recorded_by.id
            or principal.user_id in {s.id for s in incident.alerted_staff}
            or principal.is_dsl_of(incident.school_id)
        ):
            raise NotFound("no such incident")
        return incident

    async def AddAddendum(self, request, context):
        self.record.add("AddAddendum", request, context)
        principal = current_principal()
        incident = self.seen_by_caller(request.incident_id)
        if not (
            principal.user_id == incident.recorded_by.id or principal.is_dsl_of(incident.school_id)
        ):
            raise PermissionDenied("only the author or a DSL may add to an incident")
        added = incident.addenda.add(
            id=f"add-{len(incident.addenda) + 1}",
            text=request.text,
            author=incidents_pb2.NamedRef(id=principal.user_id, name=principal.name),
            created_at=stamp(f"2026-11-30T11:{len(incident.addenda):02d}:00Z"),
        )
        return added

    async def ListIncidentViews(self, request, context):
        self.record.add("ListIncidentViews", request, context)
        incident = self.seen_by_caller(request.incident_id)
        if not current_principal().is_dsl_of(incident.school_id):
            raise PermissionDenied("DSLs only")
        views = [
            incidents_pb2.IncidentView(
                user=incidents_pb2.NamedRef(id="u-alice", name="Alice"),
                action="viewed",
                at=stamp("2026-11-30T10:05:00Z"),
                client_address="203.0.113.7",
            ),
            incidents_pb2.IncidentView(
                user=incidents_pb2.NamedRef(id="u-dee", name="Dee"),
                action="file_downloaded",
                at=stamp("2026-11-30T10:06:00Z"),
                client_address="203.0.113.8",
                file_id="file-1",
            ),
        ]
        start = int(request.cursor or 0)
        page = views[start : start + request.limit]
        more = start + request.limit < len(views)
        return incidents_pb2.ListIncidentViewsResponse(
            items=page, next_cursor=str(start + request.limit) if more else ""
        )

    def retire(self, kind: str, request) -> incidents_pb2.RetireResponse:
        principal = current_principal()
        if not principal.belongs_to(request.school_id) or request.id not in self.retirable[kind]:
            raise NotFound(f"no such {kind}")
        if not principal.is_admin_of(request.school_id):
            raise PermissionDenied("admins only")
        self.retired.add((kind, request.id))
        return incidents_pb2.RetireResponse()

    async def RetireCategory(self, request, context):
        self.record.add("RetireCategory", request, context)
        return self.retire("category", request)

    async def RetireAgency(self, request, context):
        self.record.add("RetireAgency", request, context)
        return self.retire("agency", request)

    async def SearchStudents(self, request, context):
        self.record.add("SearchStudents", request, context)
        return incidents_pb2.SearchStudentsResponse(
            items=[
                incidents_pb2.Student(
                    id="st-1",
                    school_id=SCHOOL,
                    first_name="Sam",
                    last_name="Pupil",
                    display_name="Sam Pupil",
                    year_group="7",
                    date_of_birth="2014-03-01",
                )
            ]
        )

    async def ListCategories(self, request, context):
        self.record.add("ListCategories", request, context)
        if not current_principal().belongs_to(request.school_id):
            raise NotFound("no such school")
        return incidents_pb2.ListCategoriesResponse(
            items=[incidents_pb2.NamedRef(id="cat-1", name="Physical abuse")]
        )

    async def CreateCategory(self, request, context):
        self.record.add("CreateCategory", request, context)
        if request.name.lower() == "physical abuse":
            raise Conflict("a category of that name exists", reason="already_exists")
        return incidents_pb2.NamedRef(id="cat-new", name=request.name)

    async def ImportStudents(self, request, context):
        self.record.add("ImportStudents", request, context)
        errors = [
            incidents_pb2.ImportError(line=row.line, field="date_of_birth", message="not a date")
            for row in request.items
            if row.date_of_birth and not row.date_of_birth[:4].isdigit()
        ]
        return incidents_pb2.ImportStudentsResponse(
            created=len(request.items) - len(errors), updated=0, errors=errors
        )


class Notifications(notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(self, record: Record):
        self.record = record

    async def ListAlerts(self, request, context):
        self.record.add("ListAlerts", request, context)
        return notifications_pb2.ListAlertsResponse(
            items=[
                notifications_pb2.Alert(
                    id="al-1",
                    incident_id="inc-1",
                    school_id=SCHOOL,
                    student_id="st-1",
                    student_display_name="Sam Pupil",
                    categories=[notifications_pb2.NamedRef(id="cat-1", name="Physical abuse")],
                    recorded_by=notifications_pb2.NamedRef(id="u-bob", name="Bob"),
                    occurred_at=stamp("2026-11-30T09:00:00Z"),
                    created_at=stamp("2026-11-30T10:00:01Z"),
                )
            ],
            next_cursor="",
            unread_count=1,
        )

    async def MarkAlertRead(self, request, context):
        self.record.add("MarkAlertRead", request, context)
        if request.alert_id != "al-1":
            raise NotFound("no such alert")
        return notifications_pb2.MarkAlertReadResponse()


class FileCorrupted(ServiceError):
    code = grpc.StatusCode.DATA_LOSS
    reason = "file_corrupted"


class Files(files_pb2_grpc.FilesServiceServicer):
    def __init__(self, record: Record):
        self.record = record
        self.chunk_sizes: list[int] = []
        self.stored: dict[str, files_pb2.StoredFile] = {}
        self.contents: dict[str, bytes] = {}

    async def Upload(self, request_iterator, context):
        first = True
        meta, content = None, bytearray()
        async for message in request_iterator:
            if first:
                meta, first = message.metadata, False
                self.record.add("Upload", message, context)
                continue
            self.chunk_sizes.append(len(message.chunk))
            content += message.chunk
            if content.startswith(b"MZ"):
                raise ValidationFailed(
                    [FieldViolation("file", "executables are not allowed")],
                    reason="file_type_not_allowed",
                )
        stored = files_pb2.StoredFile(
            id=f"file-{uuid.uuid4().hex[:8]}",
            school_id=meta.school_id,
            filename=meta.filename,
            size=len(content),
            content_type="application/pdf",
            sha256="ab" * 32,
            status="staged",
            uploaded_by=current_principal().user_id,
        )
        self.stored[stored.id] = stored
        self.contents[stored.id] = bytes(content)
        return stored

    async def Download(self, request, context):
        self.record.add("Download", request, context)
        stored = self.stored.get(request.file_id)
        if stored is None:
            raise NotFound("no such file")
        yield files_pb2.DownloadResponse(metadata=stored)
        content = self.contents[stored.id]
        for start in range(0, len(content), 1000):
            yield files_pb2.DownloadResponse(chunk=content[start : start + 1000])
            if stored.filename == "corrupt.pdf":
                raise FileCorrupted("the stored object failed its integrity check")

    async def GetFile(self, request, context):
        self.record.add("GetFile", request, context)
        if request.file_id not in self.stored:
            raise NotFound("no such file")
        return self.stored[request.file_id]


@dataclass
class Doubles:
    address: str
    record: Record
    identity: Identity
    incidents: Incidents
    notifications: Notifications
    files: Files
    health: health.aio.HealthServicer


def settings_for(address: str, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        identity_addr=overrides.pop("identity_addr", address),
        incidents_addr=overrides.pop("incidents_addr", address),
        notifications_addr=overrides.pop("notifications_addr", address),
        files_addr=overrides.pop("files_addr", address),
        # The doubles change sessions and accounts behind the gateway's back;
        # test_gateway_auth_cache.py turns the cache on where it is the subject.
        auth_cache_seconds=overrides.pop("auth_cache_seconds", 0),
        **overrides,
    )
