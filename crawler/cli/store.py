"""`markwatch store init|check`, `markwatch sync` and `markwatch evidence url`: the S3 archive."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.exceptions import ConfigError, StoreMisconfigured
from storage.uri import open_store, spool_dir

EXIT_STORE = 3


def _s3(uri: str) -> object:
    from storage.s3 import S3Store
    from storage.upload_spool import SpoolingStore

    store = open_store(uri)
    remote = store.remote if isinstance(store, SpoolingStore) else store
    if not isinstance(remote, S3Store):
        raise ConfigError(f"{uri} is not an s3:// store")
    return remote


@click.group("store")
def store_group() -> None:
    """Set up and check an S3-compatible archive."""


@store_group.command("init")
@click.argument("uri")
@click.option("--object-lock/--no-object-lock", default=True, show_default=True,
              help="Create the bucket with versioning and Object Lock (write-once retention).")
def store_init(uri: str, object_lock: bool) -> None:
    """Create the bucket of an s3://BUCKET/PREFIX store, with versioning and Object Lock."""
    from storage.s3 import S3Store
    from storage.s3_admin import init_bucket

    remote = _s3(uri)
    assert isinstance(remote, S3Store)
    for line in init_bucket(remote.client, remote.bucket, object_lock):
        click.echo(line)


@store_group.command("check")
@click.option("--store", help="Evidence store URI (s3://BUCKET/PREFIX).")
def store_check(store: str | None) -> None:
    """Report what the archive supports (versioning, Object Lock, checksums, conditional
    writes, presigned URLs) and warn about each gap."""
    from storage.s3 import S3Store
    from storage.s3_admin import check_target, format_results

    remote = _s3(resolve_store(store))
    assert isinstance(remote, S3Store)
    results = check_target(remote)
    click.echo(format_results(results))
    sys.exit(0 if all(r.ok for r in results) else 1)


@click.command("sync")
@click.option("--store", help="Evidence store URI.")
@click.option("--spool", help="Spool folder (default MARKWATCH_SPOOL_DIR or "
                              "./markwatch-data/spool).")
def sync(store: str | None, spool: str | None) -> None:
    """Upload captures spooled while the archive was unreachable (idempotent)."""
    from storage.upload_spool import SpoolingStore

    uri = resolve_store(store)
    opened = open_store(uri, spool=spool_dir(spool))
    if not isinstance(opened, SpoolingStore):
        click.echo(f"{uri} is a local store: nothing is ever spooled")
        return
    try:
        report = opened.sync()
    except StoreMisconfigured as exc:
        raise ConfigError(str(exc)) from exc
    click.echo(f"uploaded {len(report.uploaded)}, already there {len(report.already_present)}, "
               f"conflicts {len(report.conflicts)}, failed {len(report.failed)}, "
               f"still spooled {report.remaining}")
    for key in report.conflicts:
        click.echo(f"  conflict: {key} (kept aside in the spool)")
    for failure in report.failed:
        click.echo(f"  failed: {failure}")
    if report.unavailable:
        sys.exit(EXIT_STORE)
    sys.exit(0 if report.ok else 1)


@click.command("url")
@click.argument("capture_id")
@click.argument("artifact")
@click.option("--expires", type=click.IntRange(60, 7 * 24 * 3600), default=3600,
              show_default=True, help="Seconds the link stays valid.")
@click.option("--store", help="Evidence store URI.")
@click.option("--catalog", "catalog_uri", help="Catalog URI.")
def evidence_url(capture_id: str, artifact: str, expires: int, store: str | None,
                 catalog_uri: str | None) -> None:
    """A presigned URL to share one artifact of a capture (S3 stores only)."""
    from storage.catalog import Catalog
    from storage.s3 import S3Store
    from storage.s3_admin import presigned_url

    uri = resolve_store(store)
    with Catalog(resolve_catalog(catalog_uri, uri)) as cat:
        row = cat.get(capture_id)
    if row is None:
        raise click.ClickException(f"no capture {capture_id} in the catalog")
    match = [a for a in row["artifacts"] if a["name"] == artifact]
    if not match:
        names = ", ".join(a["name"] for a in row["artifacts"])
        raise click.ClickException(f"capture {capture_id} has no artifact {artifact!r} "
                                   f"(it has {names})")
    remote = _s3(uri)
    assert isinstance(remote, S3Store)
    # re-hash before sharing: never hand out a link to bytes that no longer verify
    remote.verify(match[0]["key"])
    url = presigned_url(remote, match[0]["key"], expires)
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise click.ClickException("the store returned an unexpected URL")
    click.echo(url)
