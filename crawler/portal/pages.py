"""The portal's HTML pages: thin routes over `crawler.portal.views`, rendered by Jinja2.

cases -> a case's listings (filters, sorting, pages, CSV) -> a listing's timeline -> a capture
(screenshot, fields, provenance, artifacts, custody, seal verdicts) -> its replay; exports.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from crawler.cli.text import csv_cell
from crawler.evidence.screenshot import MEDIA_TYPES, screenshot_entry
from crawler.exceptions import MarkwatchError
from crawler.portal import auth, casework, exports, replay, views
from crawler.portal.auth import Identity, page_identity, portal_of
from crawler.portal.users import Throttled

CSV_COLUMNS = ("capture_id", "started_at", "kind", "marketplace", "brand", "term", "listing_id",
               "price", "currency", "seller_name", "title", "url", "status")
MAX_FORM = 64 * 1024


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    portal = portal_of(request)
    html = portal.templates.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status)


def _signed_in(handler: Callable[[Request, Identity], Any]) -> Callable[[Request], Any]:
    """Run a page handler (in a thread: it reads SQLite and the store) for a signed-in user."""

    async def endpoint(request: Request) -> Response:
        identity = await asyncio.to_thread(page_identity, request)
        if identity is None:
            return RedirectResponse("/login?" + urlencode({"next": request.url.path}), 303)
        try:
            result: Response = await asyncio.to_thread(handler, request, identity)
        except HTTPException as exc:
            return render(request, "error.html", exc.status_code, me=identity,
                          message=exc.detail)
        return result

    return endpoint


def _form_handler(handler: Callable[[Request, Identity, dict[str, Any]], Awaitable[Response]]
                  ) -> Callable[[Request], Awaitable[Response]]:
    """A POST handler: signed in, form read (bounded), CSRF token checked."""

    async def endpoint(request: Request) -> Response:
        identity = await asyncio.to_thread(page_identity, request)
        if identity is None:
            return render(request, "error.html", 403, me=None, message="not signed in")
        form = await _read_form(request)
        if not auth.csrf_ok(identity.csrf, form.get("csrf")):
            return render(request, "error.html", 403, me=identity,
                          message="missing or wrong CSRF token: reload the page and try again")
        try:
            return await handler(request, identity, form)
        except HTTPException as exc:
            return render(request, "error.html", exc.status_code, me=identity,
                          message=exc.detail)

    return endpoint


async def _read_form(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > MAX_FORM:
        raise HTTPException(413, "form too large")
    form = await request.form(max_files=0, max_fields=2000)
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key == "capture_id":
                out.setdefault(key, []).append(value)
            else:
                out[key] = value
    return out


# -- signing in and out ---------------------------------------------------------------------

async def login_page(request: Request) -> Response:
    response = HTMLResponse("")
    token = auth.login_token(request, response, portal_of(request).config.tls)
    page = render(request, "login.html", me=None, login_csrf=token,
                  next=_safe_next(request.query_params.get("next")), error=None)
    page.raw_headers += [h for h in response.raw_headers if h[0] == b"set-cookie"]
    return page


async def login_submit(request: Request) -> Response:
    portal = portal_of(request)
    form = await _read_form(request)
    if not auth.csrf_ok(request.cookies.get(auth.LOGIN_COOKIE, ""), form.get("csrf")):
        return render(request, "error.html", 403, me=None,
                      message="missing or wrong CSRF token: reload the login page")
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024]
    target = _safe_next(form.get("next"))
    try:
        user = await asyncio.to_thread(portal.users.login, name, password,
                                       auth.client_of(request))
    except Throttled as exc:
        return render(request, "login.html", 429, me=None, login_csrf=form.get("csrf"),
                      next=target, error=str(exc))
    if user is None:
        return render(request, "login.html", 401, me=None, login_csrf=form.get("csrf"),
                      next=target, error="wrong user name or password")
    sid, _ = await asyncio.to_thread(portal.users.new_session, user.name)
    response = RedirectResponse(target, 303)
    auth.set_session(response, sid, portal.config.tls)
    return response


async def logout(request: Request, identity: Identity, form: dict[str, Any]) -> Response:
    sid = request.cookies.get(auth.SESSION_COOKIE)
    if sid:
        await asyncio.to_thread(portal_of(request).users.end_session, sid)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _safe_next(value: Any) -> str:
    """Only a local path: never an open redirect."""
    text = str(value or "")
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else "/cases"


# -- pages ----------------------------------------------------------------------------------

def home(request: Request, me: Identity) -> Response:
    return RedirectResponse("/cases", 303)


def cases_page(request: Request, me: Identity) -> Response:
    return render(request, "cases.html", me=me, **views.cases(portal_of(request), me.user))


def listings_page(request: Request, me: Identity) -> Response:
    case = request.path_params["case"]
    params = dict(request.query_params)
    if params.get("format") == "csv":
        return _csv(request, me, case, params)
    data = views.listings(portal_of(request), me.user, case, params)
    base = {k: v for k, v in params.items() if k != "offset" and v}
    nav = {"prev": None, "next": None, "csv": "?" + urlencode({**base, "format": "csv"})}
    if data["offset"]:
        nav["prev"] = "?" + urlencode({**base, "offset": max(data["offset"] - views.PAGE_SIZE, 0)})
    if data["has_more"]:
        nav["next"] = "?" + urlencode({**base, "offset": data["offset"] + views.PAGE_SIZE})
    return render(request, "listings.html", me=me, params=params, nav=nav,
                  formats=exports.formats(), kinds=views.KINDS,
                  notice_formats=casework.notices.FORMATS,
                  reported=_text_int(params.get("reported")), **data)


def _text_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 7 else None


def _csv(request: Request, me: Identity, case: str, params: dict[str, str]) -> Response:
    """The current view (all its pages, at most 100,000 rows) as CSV, formulas defused."""
    data = views.listings(portal_of(request), me.user, case,
                          {k: v for k, v in params.items() if k != "offset"}, limit=100_000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in data["rows"]:
        writer.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{views_slug(case)}-listings.csv"'})


def views_slug(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in "-_")[:60] or "case"


def timeline_page(request: Request, me: Identity) -> Response:
    p = request.path_params
    data = views.timeline(portal_of(request), me.user, p["case"], p["marketplace"],
                          p["listing_id"])
    takedown = casework.takedown_of(portal_of(request), p["case"], p["marketplace"],
                                    p["listing_id"])
    return render(request, "timeline.html", me=me, formats=exports.formats(),
                  takedown=takedown, **data)


def capture_page(request: Request, me: Identity) -> Response:
    portal = portal_of(request)
    cid = request.path_params["capture_id"]
    zoom = request.query_params.get("zoom", "fit")
    data = views.capture(portal, me.user, cid, "page")
    # the screenshot is part of this (logged) view: its URL carries a ticket minted here
    ticket = auth.make_ticket(portal.config.secret, me.user.name, cid, portal.config.clock.now())
    return render(request, "capture.html", me=me, formats=exports.formats(), ticket=ticket,
                  triage=casework.triage_of(portal, data["row"]),
                  zoom=zoom if zoom in ("fit", "50", "100") else "fit", **data)


def screenshot(request: Request, me: Identity) -> Response:
    """The screenshot shown by a capture page (whose view is logged): only with its ticket."""
    portal = portal_of(request)
    cid = request.path_params["capture_id"]
    holder = auth.check_ticket(portal.config.secret, request.query_params.get("t", ""), cid,
                               portal.config.clock.now())
    if holder != me.user.name:
        raise HTTPException(404, "not found")
    shot = screenshot_entry(views.visible_capture(portal, me.user, cid)["artifacts"])
    if shot is None:
        raise HTTPException(404, "not found")
    _, chunks = views.artifact(portal, me.user, cid, shot["name"], None)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[shot["name"]])


def artifact_download(request: Request, me: Identity) -> Response:
    name = request.path_params["name"]
    entry, chunks = views.artifact(portal_of(request), me.user,
                                   request.path_params["capture_id"], name, "page")
    return _download(entry, chunks)


def _download(entry: dict[str, Any], chunks: Any) -> Response:
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", entry["name"])[:100] or "artifact"
    return StreamingResponse(chunks, media_type="application/octet-stream", headers={
        "content-disposition": f'attachment; filename="{filename}"',
        "x-evidence-sha256": entry["sha256"]})


def replay_page(request: Request, me: Identity) -> Response:
    portal = portal_of(request)
    cid = request.path_params["capture_id"]
    row = views.visible_capture(portal, me.user, cid)
    warc = next((a for a in row["artifacts"] if a["name"].endswith(".warc.gz")), None)
    if warc is None:
        raise HTTPException(404, "this capture has no WARC to replay")
    try:
        archive = replay.load(portal.store, cid, warc["sha256"], row["final_url"] or row["url"])
    except replay.ReplayError as exc:
        raise HTTPException(422, f"cannot replay: {exc}") from exc
    if archive.page < 0:
        raise HTTPException(404, "the WARC holds no response to replay")
    from crawler.portal import access

    access.record(portal.store, portal.config.clock, "viewed", me.user.name, [cid],
                  {"view": "replay", "warc_sha256": warc["sha256"]})
    ticket = auth.make_ticket(portal.config.secret, me.user.name, cid, portal.config.clock.now())
    src = f"/replay/{cid}/{ticket}/r/{archive.page}"
    return render(request, "replay.html", me=me, row=row, case=views.queries.case_of(row),
                  src=src, warc=warc, responses=len(archive.responses))


def replay_resource(request: Request) -> Response:
    """One recorded response, for the sandboxed replay frame (authorised by its ticket)."""
    portal = portal_of(request)
    p = request.path_params
    name = auth.check_ticket(portal.config.secret, p["ticket"], p["capture_id"],
                             portal.config.clock.now())
    user = portal.users.user(name) if name else None
    if user is None:
        return Response("not found", 404, media_type="text/plain")
    try:
        row = views.visible_capture(portal, user, p["capture_id"])
        warc = next(a for a in row["artifacts"] if a["name"].endswith(".warc.gz"))
        archive = replay.load(portal.store, p["capture_id"], warc["sha256"],
                              row["final_url"] or row["url"])
    except (HTTPException, StopIteration, replay.ReplayError):
        return Response("not found", 404, media_type="text/plain")
    n = int(p["n"])
    if n >= len(archive.responses):
        return Response("not recorded", 404, media_type="text/plain")
    rec, body = archive.body(n, p["ticket"])
    return Response(body, status_code=200, media_type=rec.media_type)


async def export_submit(request: Request, me: Identity, form: dict[str, Any]) -> Response:
    if not me.user.can_export:
        raise HTTPException(403, "exports need the investigator or admin role")
    ids = list(dict.fromkeys(form.get("capture_id") or []))
    fmt = str(form.get("format") or "bundle")
    if not ids or len(ids) > exports.MAX_CAPTURES or fmt not in exports.formats():
        raise HTTPException(400, "choose 1 to 1000 captures and a known format")
    portal = portal_of(request)
    for cid in ids:
        await asyncio.to_thread(views.visible_capture, portal, me.user, cid)
    try:
        path, name = await asyncio.to_thread(exports.build, portal, me.user, ids, fmt)
    except MarkwatchError as exc:
        raise HTTPException(409, f"cannot export: {exc}") from exc
    return StreamingResponse(exports.stream(path), media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{name}"'})


# -- casework: review queue, decisions, seller clusters, takedown (crawler.portal.casework) --

def queue_page(request: Request, me: Identity) -> Response:
    params = dict(request.query_params)
    return render(request, "queue.html", me=me, params=params,
                  **casework.queue(portal_of(request), me.user, params))


def clusters_page(request: Request, me: Identity) -> Response:
    return render(request, "clusters.html", me=me,
                  **casework.seller_clusters(portal_of(request), me.user))


async def decide_submit(request: Request, me: Identity, form: dict[str, Any]) -> Response:
    cid = request.path_params["capture_id"]
    await asyncio.to_thread(casework.decide, portal_of(request), me.user, cid,
                            str(form.get("verdict") or ""), str(form.get("note") or ""))
    return RedirectResponse(f"/captures/{cid}#triage", 303)


async def mark_sent_submit(request: Request, me: Identity, form: dict[str, Any]) -> Response:
    records = await asyncio.to_thread(casework.mark_sent, portal_of(request), me.user,
                                      form.get("capture_id") or [],
                                      str(form.get("reference") or ""))
    first = records[0]
    return RedirectResponse(
        f"/cases/{quote(first['case'], safe='')}/listings?"
        + urlencode({"reported": len(records)}), 303)


async def notice_submit(request: Request, me: Identity, form: dict[str, Any]) -> Response:
    path, name = await asyncio.to_thread(
        casework.prepare_notice, portal_of(request), me.user, form.get("capture_id") or [],
        str(form.get("notice_format") or ""), str(form.get("notifier_name") or ""),
        str(form.get("notifier_email") or ""))
    return StreamingResponse(exports.stream(path), media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{name}"'})


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", _form_handler(logout), methods=["POST"]),
        Route("/", _signed_in(home)),
        Route("/cases", _signed_in(cases_page)),
        Route("/cases/{case}/listings", _signed_in(listings_page)),
        Route("/cases/{case}/listings/{marketplace}/{listing_id}", _signed_in(timeline_page)),
        Route("/captures/{capture_id}", _signed_in(capture_page)),
        Route("/captures/{capture_id}/screenshot", _signed_in(screenshot)),
        Route("/captures/{capture_id}/artifacts/{name}", _signed_in(artifact_download)),
        Route("/captures/{capture_id}/replay", _signed_in(replay_page)),
        Route("/replay/{capture_id}/{ticket}/r/{n:int}", replay_resource),
        Route("/export", _form_handler(export_submit), methods=["POST"]),
        Route("/queue", _signed_in(queue_page)),
        Route("/clusters", _signed_in(clusters_page)),
        Route("/captures/{capture_id}/decide", _form_handler(decide_submit), methods=["POST"]),
        Route("/takedown/mark-sent", _form_handler(mark_sent_submit), methods=["POST"]),
        Route("/takedown/notice", _form_handler(notice_submit), methods=["POST"]),
    ]
