"""Alerts from IncidentRecorded: one per member and incident, private to that member."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from nats.js import JetStreamContext

from haven.notifications.v1 import notifications_pb2 as pb

from .conftest import (
    PUBLIC_URL,
    Mailbox,
    Staff,
    StartNotifications,
    eventually,
    handled_up_to,
    incident_recorded,
    publish,
    whole_text,
)


async def test_an_incident_gives_each_recipient_one_alert_and_one_email_even_when_delivered_twice(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    school = str(uuid.uuid4())
    dsl, teacher = Staff.new("Dee Ess-Ell"), Staff.new("Tee Cher")
    # The DSL was also picked by hand, so incidents names them twice.
    event = incident_recorded(school, [dsl, teacher, dsl])
    event_id = str(uuid.uuid4())

    await publish(js, event, event_id=event_id)
    # The same event again, past the stream's duplicate window: only the
    # consumer's own record of handled events can catch it.
    await publish(js, event, event_id=event_id, nats_msg_id=str(uuid.uuid4()))
    # And the same incident under a new event id: the (user, incident) key holds.
    last = await publish(js, event)
    await handled_up_to(js, "notifications-alerts", last)

    for member in (dsl, teacher):
        page = await notifications.list_alerts(member.user_id, {school: "dsl"})
        assert [a.incident_id for a in page.items] == [event.incident_id]
        assert page.unread_count == 1
        await eventually(lambda m=member: mailbox.messages_to(m.email), what="the email")

    await asyncio.sleep(1.0)  # time for any second email to turn up
    for member in (dsl, teacher):
        [row] = await notifications.emails_to(member.email)
        assert row["status"] == "sent"
        [message] = mailbox.messages_to(member.email)
        assert message["To"] == member.email  # their address alone
        assert message["Subject"] == "New safeguarding alert"


async def test_the_alert_email_names_no_pupil_and_quotes_nothing_of_the_incident(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    school, dsl = str(uuid.uuid4()), Staff.new()
    event = incident_recorded(
        school,
        [dsl],
        student_name="Zebedee Quartermain",
        school_name="Oak Hill Primary",
        categories=("Physical abuse", "Neglect"),
    )
    await publish(js, event)

    [message] = await eventually(lambda: mailbox.messages_to(dsl.email), what="the email")
    text = whole_text(message)
    assert (
        f"You have been alerted to a new incident at Oak Hill Primary. "
        f"Log in to Haven to review it: {PUBLIC_URL}/"
    ) in text
    for secret in (
        "Zebedee",
        "Quartermain",
        event.student.id,
        event.incident_id,
        "Physical abuse",
        "Neglect",
        "Mrs Recorder",
    ):
        assert secret not in text
    assert message.get_body(("html",)) is not None

    # The dashboard, behind a login, shows what the email does not.
    [alert] = (await notifications.list_alerts(dsl.user_id, {school: "dsl"})).items
    assert alert.student_id == event.student.id
    assert alert.student_display_name == "Zebedee Quartermain"
    assert [c.name for c in alert.categories] == ["Physical abuse", "Neglect"]
    assert (alert.recorded_by.id, alert.recorded_by.name) == (event.recorded_by.id, "Mrs Recorder")
    assert alert.school_id == school
    assert alert.occurred_at == event.occurred_at
    assert alert.created_at == event.recorded_at
    assert not alert.HasField("read_at")


async def test_a_member_of_staff_sees_and_marks_only_their_own_alerts(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    school, other_school = str(uuid.uuid4()), str(uuid.uuid4())
    alice, bob = Staff.new("Alice"), Staff.new("Bob")
    both = incident_recorded(school, [alice, bob])
    alice_only = incident_recorded(school, [alice])
    elsewhere = incident_recorded(other_school, [alice])
    for event in (both, alice_only):
        await publish(js, event)
    last = await publish(js, elsewhere)
    await handled_up_to(js, "notifications-alerts", last)

    as_alice = {school: "staff"}
    alice_page = await notifications.list_alerts(alice.user_id, as_alice)
    bob_page = await notifications.list_alerts(bob.user_id, {school: "staff"})
    # Alice's token allows only `school`: her alert from the other school stays hidden.
    assert {a.incident_id for a in alice_page.items} == {both.incident_id, alice_only.incident_id}
    assert [a.incident_id for a in bob_page.items] == [both.incident_id]
    alice_alert = next(a for a in alice_page.items if a.incident_id == both.incident_id)

    # Bob cannot mark Alice's alert, nor one that does not exist, nor a malformed id,
    # and cannot tell these apart.
    for alert_id in (alice_alert.id, str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await notifications.mark_read(bob.user_id, {school: "staff"}, alert_id)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    # Nor can Alice reach her own alert through a token without its school.
    [hidden] = (await notifications.list_alerts(alice.user_id, {other_school: "staff"})).items
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await notifications.mark_read(alice.user_id, as_alice, hidden.id)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    await notifications.mark_read(alice.user_id, as_alice, alice_alert.id)
    first = await notifications.list_alerts(alice.user_id, as_alice)
    read = next(a for a in first.items if a.id == alice_alert.id)
    assert read.HasField("read_at")
    assert first.unread_count == 1
    # Marking again is harmless and keeps the first time it was read.
    await notifications.mark_read(alice.user_id, as_alice, alice_alert.id)
    again = await notifications.list_alerts(alice.user_id, as_alice)
    assert next(a for a in again.items if a.id == alice_alert.id).read_at == read.read_at
    assert again.unread_count == 1
    # Bob's copy of the same incident is still unread.
    assert (await notifications.list_alerts(bob.user_id, {school: "staff"})).unread_count == 1

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await notifications.stub.ListAlerts(pb.ListAlertsRequest(), timeout=5)  # no token
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_alerts_come_newest_first_with_the_unread_count_and_pages(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    school, dsl = str(uuid.uuid4()), Staff.new()
    start = datetime.now(UTC) - timedelta(hours=1)
    events = [
        incident_recorded(school, [dsl], recorded_at=start + timedelta(minutes=i)) for i in range(5)
    ]
    last = 0
    for event in reversed(events):  # arrival order must not matter
        last = await publish(js, event)
    await handled_up_to(js, "notifications-alerts", last)
    newest_first = [e.incident_id for e in reversed(events)]
    me = (dsl.user_id, {school: "dsl"})

    everything = await notifications.list_alerts(*me)
    assert [a.incident_id for a in everything.items] == newest_first
    assert everything.unread_count == 5
    assert everything.next_cursor == ""

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = await notifications.list_alerts(*me, limit=2, cursor=cursor)
        assert page.unread_count == 5
        seen += [a.incident_id for a in page.items]
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == newest_first
    assert pages == 3

    await notifications.mark_read(*me, everything.items[0].id)
    assert (await notifications.list_alerts(*me, limit=1)).unread_count == 4

    for bad in ({"cursor": "not-a-cursor"}, {"limit": -1}):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await notifications.list_alerts(*me, **bad)  # type: ignore[arg-type]
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
