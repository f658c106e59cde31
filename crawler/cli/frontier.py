"""`markwatch worker` and `markwatch runs finalize`: the commands of a distributed run
(`crawler.frontier`). `markwatch crawl --frontier URI` seeds one (see crawler/cli/main.py)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from crawler.frontier.uri import check_uri, reaching


def frontier_option(required: bool) -> Any:
    return click.option(
        "--frontier", "frontier_uri", required=required, envvar="MARKWATCH_FRONTIER",
        help="Redis URI of the shared frontier, redis://[:PASSWORD@]HOST:PORT/DB "
             "(or MARKWATCH_FRONTIER, which keeps a password off the command line).")


def start_metrics(host: str, port: int | None) -> None:
    if port is None:
        return
    from crawler.frontier.metrics import MetricsServer

    server = MetricsServer(host, port).start()
    click.echo(f"metrics and health on http://{host}:{server.port}/metrics", err=True)


@click.command()
@frontier_option(required=True)
@click.option("--once", is_flag=True, help="Serve the next open run, then exit.")
@click.option("--run", "run_id", help="Serve this run, then exit.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve /metrics (Prometheus) and /healthz on this port (0: any free one).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics endpoint binds to.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def worker(frontier_uri: str, once: bool, run_id: str | None, metrics_port: int | None,
           metrics_host: str, log_format: str, log_level: str) -> None:
    """Take requests from the shared frontier and capture them (any number of workers)."""
    from crawler.frontier.worker import run_worker

    check_uri(frontier_uri)
    if metrics_port is not None and not (once or run_id) and \
            not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # before any metric is made: the per-run children write theirs where this one reads
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="markwatch-metrics-")
    start_metrics(metrics_host, metrics_port)
    extra = ["--log-format", log_format, "--log-level", log_level]
    overrides = {"LOG_LEVEL": log_level.upper(), "MARKWATCH_LOG_FORMAT": log_format}
    with reaching(frontier_uri):
        code = run_worker(frontier_uri, once, run_id, overrides, extra)
    sys.exit(code)


@click.command("finalize")
@click.argument("run_id")
@frontier_option(required=True)
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Even though requests are still queued or leased (they are then left out).")
@click.option("--catalog", "catalog_uri", envvar="MARKWATCH_CATALOG",
              help="The run's catalog, when it is not where the seeder's was (a moved "
                   "database); default: the one in the run's description.")
def finalize_run(run_id: str, frontier_uri: str, report_json: Path | None,
                 force: bool, catalog_uri: str | None = None) -> None:
    """Write and seal the records of a distributed run (when its seeder could not)."""
    from crawler.cli.main import _finish
    from crawler.exceptions import ConfigError
    from crawler.frontier.queue import Frontier, connect
    from crawler.frontier.run import finalize

    with reaching(frontier_uri):
        frontier = Frontier(connect(check_uri(frontier_uri)), run_id)
        try:
            frontier.meta()
        except KeyError as exc:
            raise ConfigError(str(exc).strip("'\"")) from None
        if not force and not frontier.is_drained():
            raise ConfigError(f"run {run_id} still has requests queued or leased; wait for "
                              "the workers, or give --force")
        report = finalize(frontier, catalog_uri=catalog_uri)
    _finish(report, report_json)
