"""Staged files never attached are deleted after their time, by any number of replicas at once."""

from __future__ import annotations

import asyncio
import uuid

from . import upload_samples as samples
from .conftest import RunningFiles, StartFiles, eventually


def new_id() -> str:
    return str(uuid.uuid4())


async def backdate(files: RunningFiles, file_ids: list[str], hours: float) -> None:
    await files.query(
        "UPDATE files SET created_at = now() - make_interval(secs => $2) WHERE id = ANY($1::uuid[])",
        file_ids,
        hours * 3600,
    )


async def test_two_replicas_at_once_delete_each_expired_staged_file_and_its_object_exactly_once(
    start_files: StartFiles,
) -> None:
    # Two replicas on one database and one bucket, their jobs idle (a long
    # interval) so that the test decides when they run: at the same moment.
    first = await start_files(staged_file_ttl_hours=24, cleanup_interval_seconds=3600)
    second = await start_files(
        staged_file_ttl_hours=24,
        cleanup_interval_seconds=3600,
        database_url=first.settings.database_url,
        s3_bucket=first.bucket,
    )
    school, alice = new_id(), new_id()
    member = {school: "staff"}
    uploads = [
        await first.upload(alice, member, school, f"note-{i}.pdf", samples.pdf(3000))
        for i in range(12)
    ]
    expired, kept = [u.id for u in uploads[:9]], [u.id for u in uploads[9:]]
    await backdate(first, expired, hours=24.5)
    await backdate(first, kept[:1], hours=23.5)  # not yet
    # One the incident took a day ago: attached files are never the job's.
    await first.query(
        "UPDATE files SET status = 'attached', incident_id = $2, attached_at = now(),"
        " created_at = now() - interval '30 hours' WHERE id = $1::uuid",
        kept[1],
        new_id(),
    )
    objects_before = set(await first.objects())
    assert len(objects_before) == 12

    # Small batches, so the two interleave over several transactions.
    for files in (first, second):
        files.janitor.batch_size = 2
    swept = await asyncio.gather(first.janitor.sweep(), second.janitor.sweep())

    assert sum(s.expired_files for s in swept) == len(expired)
    assert sum(s.removed_objects for s in swept) == len(expired)
    rows = await first.query("SELECT id::text FROM files")
    assert {r["id"] for r in rows} == set(kept)
    remaining = set(await first.objects())
    kept_keys = {
        r["storage_key"]
        for r in await first.query("SELECT storage_key FROM files WHERE id = ANY($1::uuid[])", kept)
    }
    assert remaining == kept_keys
    assert await first.query("SELECT * FROM unclaimed_objects") == []
    # The kept files still download whole.
    _, content = await first.download(alice, member, kept[2])
    assert content.startswith(b"%PDF")

    # A second round finds nothing more to do.
    again = await asyncio.gather(first.janitor.sweep(), second.janitor.sweep())
    assert all((s.expired_files, s.removed_objects) == (0, 0) for s in again)


async def test_the_job_runs_on_its_own_in_every_replica_and_the_time_to_live_is_configurable(
    start_files: StartFiles,
) -> None:
    # A one-second lifetime and a job every 0.2 s, in two replicas.
    first = await start_files(staged_file_ttl_hours=1 / 3600, cleanup_interval_seconds=0.2)
    second = await start_files(
        staged_file_ttl_hours=1 / 3600,
        cleanup_interval_seconds=0.2,
        database_url=first.settings.database_url,
        s3_bucket=first.bucket,
    )
    school, alice = new_id(), new_id()
    for i in range(6):
        await first.upload(alice, {school: "staff"}, school, f"scan-{i}.png", samples.png())

    async def all_gone() -> bool:
        return not await first.query("SELECT id FROM files") and not await first.objects()

    await eventually(all_gone, what="expired staged files and their objects removed")
    janitors = (first.janitor, second.janitor)
    # Each replica counts what it did once its transaction has committed.
    await eventually(
        lambda: sum(j.removed_total for j in janitors) >= 6, what="both replicas' counts"
    )
    await asyncio.sleep(0.5)  # a few more rounds: none may remove anything again
    assert sum(j.expired_total for j in janitors) == 6
    assert sum(j.removed_total for j in janitors) == 6
    assert await first.query("SELECT * FROM unclaimed_objects") == []
