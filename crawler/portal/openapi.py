"""The OpenAPI 3.1 document of the portal's JSON API (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from crawler import __version__

_FILTERS = ("brand", "term", "marketplace", "seller", "kind", "since", "until", "currency",
            "price_min", "price_max", "status", "suspicious", "sort", "order", "offset", "limit")


def _get(summary: str, params: tuple[str, ...] = (), query: tuple[str, ...] = (),
         binary: bool = False) -> dict[str, Any]:
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in params]
    parameters += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                   for q in query]
    content = ({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
               if binary else {"application/json": {"schema": {"type": "object"}}})
    return {"get": {"summary": summary, "parameters": parameters,
                    "responses": {"200": {"description": "OK", "content": content},
                                  "401": {"description": "no or bad token"},
                                  "404": {"description": "unknown, or not in your cases"}}}}


def document() -> dict[str, Any]:
    """The API description."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "markwatch evidence portal API", "version": __version__,
                 "description": "Every call needs `Authorization: Bearer <token>` "
                                "(`markwatch users token NAME`). Views of captures, "
                                "downloads and exports are written to the custody log."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/cases": _get("The cases granted to you"),
            "/api/cases/{case}/listings": _get("A case's captures, filtered, sorted, paged",
                                               ("case",), _FILTERS),
            "/api/cases/{case}/listings/{marketplace}/{listing_id}": _get(
                "A listing's timeline: every capture, with changes", ("case", "marketplace",
                                                                       "listing_id")),
            "/api/captures/{capture_id}": _get(
                "A capture: manifest, artifacts, custody events, seal verdicts checked now; "
                "a search page's newest results (`results`)",
                ("capture_id",)),
            "/api/captures/{capture_id}/artifacts/{name}": _get(
                "An artifact's bytes (X-Evidence-SHA256 names their digest)",
                ("capture_id", "name"), binary=True),
            "/api/queue": _get("The review queue: listings by triage score, with the top "
                               "reasons and the latest decision", (),
                               ("case", "brand", "min_score", "undecided")),
            "/api/clusters": _get("Seller clusters with the evidence of each link (your cases' "
                                  "listings only)"),
            "/api/export": {"post": {
                "summary": "An evidence bundle (zip) or WACZ of the captures given",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["capture_ids"],
                    "properties": {"capture_ids": {"type": "array", "items": {"type": "string"}},
                                   "format": {"type": "string", "enum": ["bundle", "wacz"]}}}}}},
                "responses": {"200": {"description": "the export, streamed", "content": {
                    "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                              "403": {"description": "your role may not export"},
                              "409": {"description": "the evidence does not verify"}}}},
        },
    }
