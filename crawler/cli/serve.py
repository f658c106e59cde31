"""`markwatch serve`: the evidence portal, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.exceptions import ConfigError

DEFAULT_PORT = 8470


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls: bool, behind_proxy: bool, auth_header: str | None) -> None:
    """ConfigError for an unsafe combination (cleartext off the machine, a spoofable header)."""
    if not is_loopback(host) and not tls and not behind_proxy:
        raise ConfigError(f"refusing to serve on non-loopback {host!r} without TLS: give "
                          "--tls-cert and --tls-key, or --behind-proxy if a TLS proxy fronts it")
    if auth_header and not behind_proxy:
        raise ConfigError("--auth-header trusts a header anyone can send: only with "
                          "--behind-proxy, behind a proxy that sets (and strips) it")


@click.command("serve")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
@click.option("--users-db", type=click.Path(dir_okay=False, path_type=Path),
              help="The portal's users database (default: portal.db next to the catalog).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--behind-proxy", is_flag=True,
              help="A TLS-terminating reverse proxy fronts the portal (allows a non-loopback "
                   "bind without TLS here, and --auth-header).")
@click.option("--auth-header", help="Trust this header as the signed-in user's name "
                                    "(set by an authenticating proxy). Off by default.")
def serve(store: str | None, catalog_uri: str | None, users_db: Path | None, host: str,
          port: int, tls_cert: Path | None, tls_key: Path | None, behind_proxy: bool,
          auth_header: str | None) -> None:
    """Serve the evidence portal: cases, listings, timelines, captures, replay, exports."""
    import uvicorn

    from crawler.cli.seal import project_seal_config
    from crawler.portal.app import PortalConfig, create_app
    from crawler.portal.users import portal_db_path
    from storage.db import catalog_exists, local_state_dir, redact

    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    tls = tls_cert is not None
    check_bind(host, tls, behind_proxy, auth_header)
    store_uri = resolve_store(store)
    catalog = resolve_catalog(catalog_uri, store_uri)
    if not catalog_exists(catalog):
        raise ConfigError(f"no catalog at {redact(catalog)}: crawl first, or "
                          "`markwatch catalog rebuild`")
    users = users_db or portal_db_path(local_state_dir(catalog, store_uri) / "catalog.db")
    config = PortalConfig(store_uri, catalog, users,
                          project_seal_config(), tls=tls, auth_header=auth_header)
    app = create_app(config)
    scheme = "https" if tls else "http"
    click.echo(f"markwatch portal on {scheme}://{host}:{port}/ (store {store_uri}; "
               f"users in {config.users_path})")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=behind_proxy,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None, server_header=False)
