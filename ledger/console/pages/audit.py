"""The integrity page: the current digest, verification against a kept digest, the bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from ledger.console.web import ConsoleRoute, FormDep, ViewerDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/integrity")
def integrity(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin", "auditor")
    return render(request, viewer, "integrity.html", digest=viewer.sources.digest(), result=None)


@router.get("/integrity/digest.json")
def digest_file(viewer: ViewerDep) -> Response:
    viewer.require("admin", "auditor")
    digest = viewer.sources.digest()
    return Response(
        json.dumps(digest, indent=2) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="digest-{digest["position"]}.json"'},
    )


@router.post("/integrity/verify")
def verify(request: Request, viewer: ViewerDep, form: FormDep) -> Response:
    viewer.require("admin", "auditor")
    pasted = form.get("digest", "").strip()
    try:
        # The digest file as downloaded, or a position and hash typed in.
        kept = json.loads(pasted) if pasted else _typed(form)
        if not isinstance(kept, dict):
            raise ValueError("not a digest file's JSON object")
        result = viewer.sources.verify(kept)
    except ValueError as exc:
        raise HTTPException(422, f"digest: {exc}") from None
    return render(
        request,
        viewer,
        "integrity.html",
        digest=viewer.sources.digest(),
        result=result,
        checked_against=kept,
    )


def _typed(form: dict[str, str]) -> dict[str, object]:
    position = form.get("position", "").strip()
    if not position.isdigit() or len(position) > 18:
        raise ValueError("position must be a whole number")
    return {"position": int(position), "hash": form.get("hash", "").strip().lower()}


@router.get("/integrity/bundle")
def bundle(viewer: ViewerDep) -> Response:
    viewer.require("admin", "auditor")
    return _bundle(viewer.sources.bundle(), "ledger-bundle.jsonl")


@router.get("/clients/{client_id}/bundle")
def client_bundle(client_id: str, viewer: ViewerDep) -> Response:
    """One client's events with their inclusion proofs, verifiable offline."""
    viewer.require("admin", "auditor")
    return _bundle(viewer.sources.bundle(client_id), f"client-{client_id}-bundle.jsonl")


def _bundle(chunks: Iterator[bytes], filename: str) -> Response:
    return StreamingResponse(
        chunks,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
