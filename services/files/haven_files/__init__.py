"""Haven's files service: staged uploads, type sniffing, encryption at rest, attachment.

Upload (client streaming: metadata, then chunks). The caller must belong to
the school. Each chunk is counted (over HAVEN_MAX_UPLOAD_BYTES: refused with
reason file_too_large, gRPC OUT_OF_RANGE), recognised (domain/sniffing.py;
refused with reason file_type_not_allowed; cut short or broken: file_damaged;
a zip bomb: unsafe_archive; all gRPC INVALID_ARGUMENT), hashed
(SHA-256 of the plaintext) and encrypted (domain/encryption.py) as it
arrives, and streamed to S3 a part at a time (adapters/object_store.py), so
an upload holds about one 5 MiB part in memory whatever its size. A refused
upload leaves no object (its multipart upload is aborted) and no row; its key
is written down as unclaimed before S3 sees a byte, so if S3 or the process
fails mid-upload the clean-up job removes whatever is left. The
object's key is random ("files/<uuid>"), never the user's filename, which is
kept sanitised for display only. While S3 has not answered since start, the
bucket job keeps retrying and uploads fail with reason storage_unavailable
(gRPC UNAVAILABLE).

Who sees a file (domain/access.py): while staged, its uploader alone; once an
incident has taken it, whoever may see that incident, which files asks
incidents over gRPC with the caller's own token (adapters/incidents.py; if
incidents cannot answer, UNAVAILABLE, never a guess). Either way only while
the caller belongs to that school. Anyone else gets the same NotFound as for
an unknown id.

Download (server streaming: metadata, then plaintext chunks) decrypts as it
reads, and holds back the last piece until the SHA-256 matches, ending with
DATA_LOSS (reason file_corrupted) otherwise. Downloading an attached file
publishes FileDownloaded, for the incident's audit trail.

IncidentRecorded (durable "files-attachments") attaches the listed files:
only the incident author's own staged files of the same school, and
only once.

The clean-up job (service_layer/cleanup.py), in every replica at once,
deletes staged files older than HAVEN_STAGED_FILE_TTL_HOURS and removes
unclaimed objects from S3.
"""
