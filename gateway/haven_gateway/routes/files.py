"""Uploading a file (staged for an incident to take) and downloading one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.downloads import download_response
from haven_gateway.peers import Peers
from haven_gateway.schemas import StoredFileOut, problem_responses
from haven_gateway.schools import resolve_school_id
from haven_gateway.uploads import FILE_FIELD, stream_upload

router = APIRouter(
    prefix="/api/v1", tags=["files"], responses=problem_responses(401, 403, 404, 422)
)

MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/files",
    status_code=201,
    response_model=StoredFileOut,
    responses=problem_responses(400, 413, 415, 422),
    openapi_extra=MULTIPART_BODY,
)
async def upload_file(
    request: Request,
    response: Response,
    school_id: str | None = Query(
        None, max_length=64, description="Optional when you belong to one school."
    ),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    # The body is read here, as a stream, not by FastAPI: see uploads.py.
    stored = await stream_upload(
        request, peers, caller.internal_token, resolve_school_id(caller, school_id)
    )
    response.headers["Location"] = f"/api/v1/files/{stored.id}/content"
    return presenters.stored_file(stored)


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {
            # The type sniffed from the content at upload (PDF, PNG, ...), whatever it is.
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The bytes, with Content-Disposition: attachment.",
        }
    },
)
async def download_file(
    file_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> StreamingResponse:
    return await download_response(peers, caller.internal_token, file_id)
