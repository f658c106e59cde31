"""Security headers, set once for every response (pages, API, downloads, replay)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The portal's own pages: nothing but its own scripts, styles and images; never framed.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Replayed responses: a sandbox (an opaque origin: no cookies, no storage, no portal API),
# framable only by the portal's replay page, reaching nothing outside the replay.
REPLAY_CSP = ("sandbox allow-scripts; default-src 'self' 'unsafe-inline' data: blob:; "
              "connect-src 'none'; form-action 'none'; base-uri 'none'; "
              "frame-ancestors 'self'")
REPLAY_PREFIX = "/replay/"


class SecurityHeaders:
    """ASGI middleware adding CSP, frame, sniffing and referrer headers to every response."""

    def __init__(self, app: ASGIApp, tls: bool = False) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replay = str(scope.get("path", "")).startswith(REPLAY_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-security-policy", b"x-frame-options")]
                headers += [
                    (b"content-security-policy", (REPLAY_CSP if replay else PAGE_CSP).encode()),
                    (b"x-frame-options", b"SAMEORIGIN" if replay else b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
