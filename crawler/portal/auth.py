"""Who is asking: session cookies, API tokens, a trusted proxy header; CSRF; replay tickets.

* Pages: the `mw_session` cookie (HttpOnly, SameSite=Strict, Secure over TLS), or, with
  `--auth-header`, the user name an authenticating reverse proxy put in that header.
* API: `Authorization: Bearer <token>` (`markwatch users token`), never the cookie.
* Every form carries the session's CSRF token; the login form a pre-session one.
* Replayed documents run with an opaque origin, so the browser sends them no cookie; their
  sub-resources are authorised by a short-lived ticket in the path, minted for one user and
  one capture by the replay page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from crawler.portal.users import SESSION_TTL, User

SESSION_COOKIE = "mw_session"
LOGIN_COOKIE = "mw_login"
TICKET_TTL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Identity:
    """A signed-in page user and the CSRF token their forms must carry."""

    user: User
    csrf: str


def portal_of(request: Request):  # type: ignore[no-untyped-def]  # -> Portal (import cycle)
    return request.app.state.portal


def page_identity(request: Request) -> Identity | None:
    """The page user: the trusted proxy header if configured, else the session cookie."""
    portal = portal_of(request)
    config = portal.config
    if config.auth_header:
        name = request.headers.get(config.auth_header, "").strip()
        user = portal.users.user(name) if name else None
        if user is None:
            return None
        csrf = hmac.new(config.secret, b"csrf:" + name.encode(), hashlib.sha256).hexdigest()
        return Identity(user, csrf)
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    found = portal.users.session(sid)
    return None if found is None else Identity(*found)


def api_user(request: Request) -> User | None:
    """The API user of a `Bearer` token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    user: User | None = portal_of(request).users.token_user(token.strip())
    return user


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected, given)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session(response: Response, sid: str, tls: bool) -> None:
    response.set_cookie(SESSION_COOKIE, sid, max_age=int(SESSION_TTL.total_seconds()),
                        httponly=True, samesite="strict", secure=tls, path="/")


def login_token(request: Request, response: Response, tls: bool) -> str:
    """The pre-session CSRF token of the login form (cookie and hidden field must match)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=tls, path="/login")
    return token


def make_ticket(secret: bytes, user: str, capture_id: str, now: dt.datetime) -> str:
    """A path-safe ticket letting `user` fetch `capture_id`'s replay for `TICKET_TTL`."""
    expires = str(int((now + TICKET_TTL).timestamp()))
    body = f"{expires}.{user}"
    mac = hmac.new(secret, f"{body}.{capture_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{body}.{mac}".encode()).decode().rstrip("=")


def check_ticket(secret: bytes, ticket: str, capture_id: str, now: dt.datetime) -> str | None:
    """The user a valid, unexpired ticket for `capture_id` was made for; else None."""
    try:
        raw = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4)).decode()
        expires, rest = raw.split(".", 1)
        user, mac = rest.rsplit(".", 1)
        good = hmac.new(secret, f"{expires}.{user}.{capture_id}".encode(),
                        hashlib.sha256).hexdigest()[:32]
        if hmac.compare_digest(mac, good) and int(expires) >= now.timestamp():
            return user
    except (ValueError, UnicodeDecodeError):
        return None
    return None
