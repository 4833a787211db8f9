"""The IncidentsService servicer: proto request -> handler -> proto response."""

from __future__ import annotations

from datetime import UTC

import grpc

from haven.incidents.v1 import incidents_pb2 as pb
from haven.incidents.v1 import incidents_pb2_grpc
from haven_incidents.adapters.files import FileCatalogue
from haven_incidents.adapters.identity import StaffDirectory
from haven_incidents.adapters.orm import (
    Agency,
    Category,
    Incident,
    IncidentAddendum,
    IncidentView,
    Student,
)
from haven_incidents.adapters.students import FoundStudent
from haven_incidents.domain.incidents import BodyMarkInput, IncidentDraft
from haven_incidents.domain.students import StudentInput
from haven_incidents.service_layer import handlers
from haven_runtime.context import current_principal
from haven_runtime.db import Database
from haven_runtime.events import timestamp


class IncidentsServicer(incidents_pb2_grpc.IncidentsServiceServicer):
    def __init__(self, db: Database, directory: StaffDirectory, files: FileCatalogue):
        self.db = db
        self.directory = directory
        self.files = files

    async def ImportStudents(
        self, request: pb.ImportStudentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportStudentsResponse:
        rows = [
            StudentInput(
                # Rows without a line number are counted from 1 in the order sent.
                line=row.line or index + 1,
                upn=row.upn,
                first_name=row.first_name,
                last_name=row.last_name,
                year_group=row.year_group,
                date_of_birth=row.date_of_birth,
            )
            for index, row in enumerate(request.items)
        ]
        result = await handlers.import_students(
            self.db, current_principal(), request.school_id, rows
        )
        return pb.ImportStudentsResponse(
            created=result.created,
            updated=result.updated,
            errors=[
                pb.ImportError(line=e.line, field=e.field, message=e.message) for e in result.errors
            ],
        )

    async def SearchStudents(
        self, request: pb.SearchStudentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchStudentsResponse:
        found = await handlers.search_students(
            self.db, current_principal(), request.query, request.school_id, request.limit
        )
        return pb.SearchStudentsResponse(items=[student_message(s) for s in found])

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCategoriesResponse:
        items = await handlers.list_entries(
            self.db, current_principal(), Category, request.school_id
        )
        return pb.ListCategoriesResponse(items=[named(i) for i in items])

    async def ListAgencies(
        self, request: pb.ListAgenciesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgenciesResponse:
        items = await handlers.list_entries(self.db, current_principal(), Agency, request.school_id)
        return pb.ListAgenciesResponse(items=[named(i) for i in items])

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.NamedRef:
        entry = await handlers.create_entry(
            self.db, current_principal(), Category, request.school_id, request.name
        )
        return named(entry)

    async def CreateAgency(
        self, request: pb.CreateAgencyRequest, context: grpc.aio.ServicerContext
    ) -> pb.NamedRef:
        entry = await handlers.create_entry(
            self.db, current_principal(), Agency, request.school_id, request.name
        )
        return named(entry)

    async def RecordIncident(
        self, request: pb.RecordIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Incident:
        draft = IncidentDraft(
            student_id=request.student_id,
            description=request.description,
            category_ids=list(request.category_ids),
            linked_student_ids=list(request.linked_student_ids),
            body_map=[BodyMarkInput(m.side, m.x, m.y, m.note) for m in request.body_map],
            occurred_at=(
                request.occurred_at.ToDatetime(tzinfo=UTC)
                if request.HasField("occurred_at")
                else None
            ),
            alert_staff_ids=list(request.alert_staff_ids),
            file_ids=list(request.file_ids),
            agency_ids=list(request.agency_ids),
            idempotency_key=request.idempotency_key,
        )
        incident = await handlers.record_incident(
            self.db, self.directory, self.files, current_principal(), request.school_id, draft
        )
        return incident_message(incident)

    async def GetIncident(
        self, request: pb.GetIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Incident:
        incident = await handlers.get_incident(self.db, current_principal(), request.incident_id)
        return incident_message(incident)

    async def CheckIncidentAccess(
        self, request: pb.GetIncidentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckIncidentAccessResponse:
        await handlers.check_incident_access(self.db, current_principal(), request.incident_id)
        return pb.CheckIncidentAccessResponse()

    async def ListStudentIncidents(
        self, request: pb.ListStudentIncidentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStudentIncidentsResponse:
        page = await handlers.list_student_incidents(
            self.db,
            current_principal(),
            request.student_id,
            limit=request.limit,
            cursor=request.cursor,
        )
        return pb.ListStudentIncidentsResponse(
            items=[incident_message(i) for i in page.items], next_cursor=page.next_cursor
        )

    async def AddAddendum(
        self, request: pb.AddAddendumRequest, context: grpc.aio.ServicerContext
    ) -> pb.Addendum:
        addendum = await handlers.add_addendum(
            self.db, current_principal(), request.incident_id, request.text
        )
        return addendum_message(addendum)

    async def ListIncidentViews(
        self, request: pb.ListIncidentViewsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIncidentViewsResponse:
        page = await handlers.list_incident_views(
            self.db,
            current_principal(),
            request.incident_id,
            limit=request.limit,
            cursor=request.cursor,
        )
        return pb.ListIncidentViewsResponse(
            items=[view_message(v) for v in page.items], next_cursor=page.next_cursor
        )

    async def RetireCategory(
        self, request: pb.RetireRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireResponse:
        await handlers.retire_entry(
            self.db, current_principal(), Category, request.school_id, request.id
        )
        return pb.RetireResponse()

    async def RetireAgency(
        self, request: pb.RetireRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireResponse:
        await handlers.retire_entry(
            self.db, current_principal(), Agency, request.school_id, request.id
        )
        return pb.RetireResponse()


def named(entry: Category | Agency) -> pb.NamedRef:
    return pb.NamedRef(id=str(entry.id), name=entry.name)


def student_ref(student: Student) -> pb.StudentRef:
    return pb.StudentRef(id=str(student.id), display_name=student.display_name)


def student_message(student: Student | FoundStudent) -> pb.Student:
    return pb.Student(
        id=str(student.id),
        school_id=student.school_id,
        first_name=student.first_name,
        last_name=student.last_name,
        display_name=student.display_name,
        year_group=student.year_group,
        date_of_birth=student.date_of_birth.isoformat(),
        upn=student.upn,
    )


def incident_message(incident: Incident) -> pb.Incident:
    return pb.Incident(
        id=str(incident.id),
        school_id=incident.school_id,
        student=student_ref(incident.student),
        description=incident.description,
        categories=[named(c.category) for c in incident.categories],
        linked_students=[student_ref(link.student) for link in incident.linked_students],
        body_map=[
            pb.BodyMapMark(number=m.number, side=m.side, x=m.x, y=m.y, note=m.note)
            for m in incident.body_marks
        ],
        occurred_at=timestamp(incident.occurred_at),
        recorded_at=timestamp(incident.recorded_at),
        recorded_by=pb.NamedRef(id=incident.recorded_by, name=incident.recorded_by_name),
        # The staff the author chose; the DSLs alerted with them are not listed.
        alerted_staff=[
            pb.NamedRef(id=r.user_id, name=r.name) for r in incident.recipients if r.named
        ],
        file_ids=[f.file_id for f in incident.files],
        agencies=[named(a.agency) for a in incident.agencies],
        addenda=[addendum_message(a) for a in incident.addenda],
    )


def addendum_message(addendum: IncidentAddendum) -> pb.Addendum:
    return pb.Addendum(
        id=str(addendum.id),
        text=addendum.text,
        author=pb.NamedRef(id=addendum.author_id, name=addendum.author_name),
        created_at=timestamp(addendum.created_at),
    )


def view_message(view: IncidentView) -> pb.IncidentView:
    return pb.IncidentView(
        user=pb.NamedRef(id=view.user_id, name=view.user_name),
        action=view.action,
        at=timestamp(view.at),
        client_address=view.client_address or "",
        file_id=view.file_id or "",
    )
