"""The HTTP exchange of a page fetched without a browser, for its capture's WARC.

A page Scrapy fetched itself (an unrendered search or listing page) used to leave a WARC with
its warcinfo record only: the response was kept as `dom.html` but not as a record. Its
exchange is now written as a request/response pair by the fallback writer
(`crawler.evidence.warc_decoded`), so the WARC holds what the server sent and a re-parse can
read the page back from it (`crawler.fields.warc_source`).

The body is what Scrapy handed over: its HttpCompressionMiddleware has already decoded a
Content-Encoding and removed that header, so the record holds the decoded entity with a
Content-Length of its own (the writer drops the transfer framing), self-consistent.
"""

from __future__ import annotations

from http import HTTPStatus

from scrapy.http import Headers, Response

from crawler.evidence.warc_decoded import Exchange
from crawler.middlewares.timing import STARTED_META

_SECRET = {b"proxy-authorization"}
"""Request headers that carry the operator's credentials, not the page's: never recorded."""


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    return [(key.decode("latin-1"), value.decode("latin-1"))
            for key, values in headers.items() if key.lower() not in _SECRET
            for value in values]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def response_exchange(response: Response) -> Exchange:
    """The request and response of a plain Scrapy fetch as one recorded exchange."""
    request = response.request
    return Exchange(
        url=response.url,
        method=request.method if request is not None else "GET",
        request_headers=_pairs(request.headers) if request is not None else [],
        status=response.status,
        status_text=_phrase(response.status),
        response_headers=_pairs(response.headers),
        body=response.body,
        resource_type="document",
        at=response.meta[STARTED_META],  # the capture's start, from the injectable clock
        remote_ip=str(response.ip_address) if response.ip_address else None,
    )
