"""The JSON API: a twin of every page, for case management and e-discovery systems.

Authenticated by `Authorization: Bearer <token>` only (`markwatch users token NAME`); the same
views, the same grants and the same custody records as the pages. `/api/openapi.json` describes
it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from crawler.exceptions import MarkwatchError
from crawler.portal import casework, exports, views
from crawler.portal.auth import api_user, portal_of
from crawler.portal.users import User

MAX_BODY = 256 * 1024


def _api(handler: Callable[[Request, User], Awaitable[Response]]
         ) -> Callable[[Request], Awaitable[Response]]:
    """A token-authenticated endpoint; errors as JSON."""

    async def endpoint(request: Request) -> Response:
        user = await asyncio.to_thread(api_user, request)
        if user is None:
            return JSONResponse({"error": "a valid bearer token is required"}, 401,
                                headers={"www-authenticate": "Bearer"})
        try:
            return await handler(request, user)
        except HTTPException as exc:
            return JSONResponse({"error": exc.detail}, exc.status_code)

    return endpoint


def _threaded(fn: Callable[[Request, User], Any]
              ) -> Callable[[Request, User], Awaitable[Response]]:
    """Run a blocking view (SQLite, the store) in a thread; dicts become JSON."""

    async def run(request: Request, user: User) -> Any:
        result = await asyncio.to_thread(fn, request, user)
        return result if isinstance(result, Response) else JSONResponse(result)

    return run


def cases(request: Request, user: User) -> dict[str, Any]:
    return views.cases(portal_of(request), user)


def listings(request: Request, user: User) -> dict[str, Any]:
    params = dict(request.query_params)
    try:
        limit = min(max(int(params.get("limit") or views.PAGE_SIZE), 1), 500)
    except ValueError as exc:
        raise HTTPException(400, "limit: not a number") from exc
    data = views.listings(portal_of(request), user, request.path_params["case"], params, limit)
    data.pop("query")
    return data


def timeline(request: Request, user: User) -> dict[str, Any]:
    p = request.path_params
    data = views.timeline(portal_of(request), user, p["case"], p["marketplace"],
                          p["listing_id"])
    data["takedown"] = casework.takedown_of(portal_of(request), p["case"], p["marketplace"],
                                            p["listing_id"])
    return data


def capture(request: Request, user: User) -> dict[str, Any]:
    data = views.capture(portal_of(request), user, request.path_params["capture_id"], "api")
    data["verdicts"] = [v.to_json() for v in data["verdicts"]]
    data["triage"] = casework.triage_of(portal_of(request), data["row"])
    return data


def artifact(request: Request, user: User) -> Response:
    p = request.path_params
    entry, chunks = views.artifact(portal_of(request), user, p["capture_id"], p["name"], "api")
    return StreamingResponse(chunks, media_type="application/octet-stream", headers={
        "content-disposition": "attachment", "x-evidence-sha256": entry["sha256"]})


async def export(request: Request, user: User) -> Response:
    if not user.can_export:
        raise HTTPException(403, "exports need the investigator or admin role")
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise HTTPException(413, "body too large")
    try:
        body = await request.json()
        ids = [str(x) for x in body["capture_ids"]]
        fmt = str(body.get("format") or "bundle")
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(400, 'send {"capture_ids": [...], "format": "bundle"}') from exc
    if not ids or len(ids) > exports.MAX_CAPTURES or fmt not in exports.formats():
        raise HTTPException(400, "1 to 1000 capture ids and a known format")
    portal = portal_of(request)
    for cid in ids:
        await asyncio.to_thread(views.visible_capture, portal, user, cid)
    try:
        path, name = await asyncio.to_thread(exports.build, portal, user, ids, fmt)
    except MarkwatchError as exc:
        raise HTTPException(409, f"cannot export: {exc}") from exc
    return StreamingResponse(exports.stream(path), media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{name}"'})


def queue(request: Request, user: User) -> dict[str, Any]:
    return casework.queue(portal_of(request), user, dict(request.query_params))


def seller_clusters(request: Request, user: User) -> dict[str, Any]:
    return casework.seller_clusters(portal_of(request), user)


def openapi(request: Request) -> Response:
    from crawler.portal.openapi import document

    return JSONResponse(document())


def routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", openapi),
        Route("/api/cases", _api(_threaded(cases))),
        Route("/api/cases/{case}/listings", _api(_threaded(listings))),
        Route("/api/cases/{case}/listings/{marketplace}/{listing_id}", _api(_threaded(timeline))),
        Route("/api/captures/{capture_id}", _api(_threaded(capture))),
        Route("/api/captures/{capture_id}/artifacts/{name}", _api(_threaded(artifact))),
        Route("/api/export", _api(export), methods=["POST"]),
        Route("/api/queue", _api(_threaded(queue))),
        Route("/api/clusters", _api(_threaded(seller_clusters))),
    ]
