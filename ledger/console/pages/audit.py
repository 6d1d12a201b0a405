"""The integrity page: the current digest, verification against a kept digest, the bundle."""

from __future__ import annotations

import json

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
    position_text = form.get("position", "").strip()
    chain_hash = form.get("hash", "").strip().lower()
    pasted = form.get("digest", "").strip()
    if pasted:
        # The digest as downloaded: {"position": ..., "hash": ...}.
        try:
            kept = json.loads(pasted)
            position_text, chain_hash = str(kept["position"]), str(kept["hash"]).lower()
        except (ValueError, KeyError, TypeError):
            raise HTTPException(422, "digest: not a digest file's JSON") from None
    if not position_text.isdigit() or len(position_text) > 18:
        raise HTTPException(422, "position: must be a whole number")
    if len(chain_hash) != 64 or any(c not in "0123456789abcdef" for c in chain_hash):
        raise HTTPException(422, "hash: must be 64 hex digits")
    result = viewer.sources.verify(int(position_text), chain_hash)
    return render(
        request,
        viewer,
        "integrity.html",
        digest=viewer.sources.digest(),
        result=result,
        checked_against={"position": int(position_text), "hash": chain_hash},
    )


@router.get("/integrity/bundle")
def bundle(viewer: ViewerDep) -> Response:
    viewer.require("admin", "auditor")
    return StreamingResponse(
        viewer.sources.bundle(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="ledger-bundle.jsonl"'},
    )
