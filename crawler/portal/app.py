"""The evidence portal's ASGI application: configuration, shared services, routes, middleware.

`create_app(PortalConfig(...))` builds a Starlette application. Routes (crawler/portal/pages.py
and crawler/portal/api.py) are thin: they resolve the user (crawler/portal/auth.py), call the
one query module (crawler/portal/queries.py) and render a template or JSON. A new view is one
route and one template.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from crawler.clock import Clock, SystemClock
from crawler.portal.access import CustodyReader
from crawler.portal.security import SecurityHeaders
from crawler.portal.users import UserDB
from crawler.seal.config import SealConfig
from storage.base import Store
from storage.catalog import Catalog
from storage.uri import open_store


@dataclass
class PortalConfig:
    """What `markwatch serve` was told."""

    store_uri: str
    catalog_path: str | Path
    """The catalog: a SQLite path or a catalog URI (sqlite:///, postgresql://)."""
    users_path: Path
    seal_config: SealConfig
    tls: bool = False
    auth_header: str | None = None
    """Trust this request header as the user name (set by an authenticating proxy)."""
    clock: Clock = field(default_factory=SystemClock)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Key for replay tickets and header-mode CSRF tokens (new each start)."""


class Portal:
    """The services every route uses, created once per application."""

    def __init__(self, config: PortalConfig) -> None:
        self.config = config
        self.store: Store = open_store(config.store_uri)
        self.catalog = Catalog(config.catalog_path)
        self.users = UserDB(config.users_path, config.clock)
        self.custody = CustodyReader(self.store)
        self.templates = Environment(
            loader=PackageLoader("crawler.portal", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    def close(self) -> None:
        self.catalog.close()
        self.users.close()
        self.store.close()


def create_app(config: PortalConfig) -> Starlette:
    """The portal application."""
    from crawler.portal import api, pages

    portal = Portal(config)
    static = str(Path(__file__).with_name("static"))
    routes = [*pages.routes(), *api.routes(), Mount("/static", StaticFiles(directory=static),
                                                    name="static")]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        portal.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.portal = portal
    app.add_middleware(SecurityHeaders, tls=config.tls)
    return app
