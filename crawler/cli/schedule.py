"""`markwatch schedule`: run the scheduler, or export its schedules as deployment recipes."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import click

from crawler.cli.options import resolve_catalog, resolve_store

WATCHLIST = click.Path(exists=True, dir_okay=False, path_type=Path)


def _watchlist(path: Path):  # type: ignore[no-untyped-def]
    from crawler.registry import known_marketplaces
    from crawler.runs.runner import project_settings
    from crawler.watchlist import load_watchlist

    return load_watchlist(path, known_marketplaces(project_settings()))


def _crawl_args(store: str | None, catalog: str | None, max_listings: int | None,
                log_level: str | None) -> list[str]:
    args: list[str] = []
    for flag, value in (("--store", store), ("--catalog", catalog),
                        ("--max-listings", max_listings), ("--log-level", log_level)):
        if value is not None:
            args += [flag, str(value)]
    return args


@click.group(invoke_without_command=True)
@click.option("-w", "--watchlist", "watchlist_path", type=WATCHLIST,
              help="Watchlist YAML file whose schedules to run.")
@click.option("--store", help="Evidence store URI for the runs.")
@click.option("--catalog", help="Catalog URI (also where the scheduler records its runs).")
@click.option("--max-listings", type=click.IntRange(min=1), help="Passed to every run.")
@click.option("--missed", type=click.Choice(["once", "skip"]), default="once", show_default=True,
              help="Runs missed while the scheduler was down: one catch-up run, or none.")
@click.option("--max-parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs (of different jobs) at once; a due job waits for a slot.")
@click.option("--on-stop", type=click.Choice(["checkpoint", "finish"]), default="checkpoint",
              show_default=True,
              help="On SIGTERM: the running crawl checkpoints (resumes on the next start), or "
                   "finishes.")
@click.option("--stop-timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds a stopping crawl gets before it is killed (it resumes later).")
@click.option("--health-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Health file (default: under the state directory).")
@click.option("--health-port", type=click.IntRange(min=0, max=65535),
              help="Serve GET /healthz on 127.0.0.1:PORT (0: a free port).")
@click.option("--every", type=click.FloatRange(min=0.5),
              help="Testing: fire every job every SECONDS instead of on its cron schedule.")
@click.option("--max-runs", type=click.IntRange(min=1),
              help="Exit once this many runs have ended.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--crawl-log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Log level of the crawl runs.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve /metrics (Prometheus) and /healthz on this port (0: a free one).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics endpoint binds to.")
@click.option("--frontier", "frontier_uri", envvar="MARKWATCH_FRONTIER",
              help="Start each run as a distributed run in this Redis frontier "
                   "(docs/scaling.md).")
@click.pass_context
def schedule(ctx: click.Context, watchlist_path: Path | None, store: str | None,
             catalog: str | None, max_listings: int | None, missed: str, max_parallel: int,
             on_stop: str, stop_timeout: float, health_file: Path | None,
             health_port: int | None, every: float | None, max_runs: int | None,
             log_level: str, crawl_log_level: str, metrics_port: int | None = None,
             metrics_host: str = "127.0.0.1", frontier_uri: str | None = None) -> None:
    """Fire crawl runs on the watchlist's cron schedules (UTC) until stopped (SIGTERM).

    Each run is a `markwatch crawl` child process. A run of a job that is still running is
    skipped; every firing is recorded (`markwatch runs list --scheduled`). The watchlist is
    reloaded when it changes or on SIGHUP.
    """
    if ctx.invoked_subcommand is not None:
        return
    if watchlist_path is None:
        raise click.UsageError("give the watchlist: markwatch schedule -w WATCHLIST")
    from crawler.runs.resume import state_dir
    from crawler.schedule.scheduler import Scheduler, SchedulerOptions

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    watchlist = _watchlist(watchlist_path)
    store_uri = resolve_store(store, watchlist)
    catalog_uri = resolve_catalog(catalog, store_uri, watchlist)
    options = SchedulerOptions(
        watchlist=watchlist_path, schedule_db=catalog_uri,
        state_dir=state_dir(store_uri).resolve(),
        crawl_args=_crawl_args(store, None, max_listings, crawl_log_level),
        every=every, missed=missed, max_parallel=max_parallel, on_stop=on_stop,
        stop_timeout=stop_timeout, health_file=health_file, health_port=health_port,
        max_runs=max_runs)
    scheduler = Scheduler(options)
    if catalog:  # the runs' catalog by environment, never on a command line (a password)
        os.environ["MARKWATCH_CATALOG"] = catalog
    if frontier_uri:  # the crawl children seed distributed runs; by environment, not argv
        from crawler.frontier.uri import check_uri

        os.environ["MARKWATCH_FRONTIER"] = check_uri(frontier_uri)
    if metrics_port is not None:
        from crawler.frontier.metrics import MetricsServer

        server = MetricsServer(metrics_host, metrics_port, snapshot=scheduler.snapshot,
                               max_age=scheduler._max_age()).start()
        click.echo(f"metrics on http://{metrics_host}:{server.port}/metrics", err=True)
    sys.exit(scheduler.run())


@schedule.command("export")
@click.option("-w", "--watchlist", "watchlist_path", type=WATCHLIST, required=True,
              help="Watchlist YAML file whose schedules to export.")
@click.option("--format", "fmt", type=click.Choice(["crontab", "systemd", "k8s-cronjob"]),
              required=True)
@click.option("--store", help="Evidence store URI the runs use.")
@click.option("--catalog", help="Catalog URI the runs use.")
@click.option("--max-listings", type=click.IntRange(min=1), help="Passed to every run.")
@click.option("--markwatch", "markwatch_exe", help="Path of the markwatch executable "
              "(default: the one running now; `markwatch` in the k8s image).")
@click.option("--image", default="markwatch:latest", show_default=True,
              help="k8s: container image with markwatch and Chromium.")
@click.option("--namespace", help="k8s: namespace.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files into this directory instead of printing them.")
def export(watchlist_path: Path, fmt: str, store: str | None, catalog: str | None,
           max_listings: int | None, markwatch_exe: str | None, image: str,
           namespace: str | None, output: Path | None) -> None:
    """Print (or write) crontab, systemd or Kubernetes recipes for the watchlist's schedules."""
    from crawler.runs.resume import state_dir
    from crawler.schedule.export import ExportContext, crontab, k8s_manifests, systemd_units
    from crawler.schedule.jobs import jobs_for

    watchlist = _watchlist(watchlist_path)
    jobs = jobs_for(watchlist)
    if not jobs:
        raise click.UsageError(f"{watchlist_path}: no brand has a schedule")
    store_uri = resolve_store(store, watchlist)
    if store_uri.startswith("file://") and fmt != "k8s-cronjob":
        from storage.uri import local_path

        store_uri = f"file://{local_path(store_uri).resolve()}"
    environment = {"MARKWATCH_STORE": store_uri}
    if catalog or fmt != "k8s-cronjob":
        environment["MARKWATCH_CATALOG"] = resolve_catalog(catalog, store_uri, watchlist)
    exe = markwatch_exe or ("markwatch" if fmt == "k8s-cronjob" else _this_markwatch())
    context = ExportContext(
        watchlist=watchlist_path.resolve(), markwatch=exe, workdir=Path.cwd(),
        state_dir=state_dir(store_uri).resolve(),
        crawl_args=_crawl_args(None, None, max_listings, None),
        environment={} if fmt == "k8s-cronjob" else environment,
        image=image, namespace=namespace, store=store_uri)
    files: dict[str, str]
    if fmt == "crontab":
        files = {"markwatch.crontab": crontab(jobs, context)}
    elif fmt == "systemd":
        files = systemd_units(jobs, context)
    else:
        files = {"markwatch-cronjobs.yaml": k8s_manifests(
            jobs, context, watchlist_path.read_text(encoding="utf-8"))}
    if output:
        output.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (output / name).write_text(text, encoding="utf-8")
            click.echo(f"wrote {output / name}")
        return
    for i, (name, text) in enumerate(files.items()):
        if len(files) > 1:
            click.echo(("\n" if i else "") + f"# ---- {name} ----")
        click.echo(text, nl=False)


def _this_markwatch() -> str:
    beside = Path(sys.executable).with_name("markwatch")
    if beside.exists():
        return str(beside)
    return shutil.which("markwatch") or "markwatch"
