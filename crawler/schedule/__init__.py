"""Scheduling crawl runs: the `markwatch schedule` process, its records and deployment recipes.

* `jobs`: the watchlist's cron schedules as jobs (brands sharing a schedule crawl together);
* `records`: the scheduler's history of runs in the catalog database (`schedule_runs`);
* `scheduler`: the long-running scheduler (one child `markwatch crawl` process per run);
* `health`: the health file and the optional 127.0.0.1 health endpoint;
* `export`: crontab, systemd and Kubernetes recipes generated from the same jobs.

Import each module by name: the catalog declares `records`' table without loading the
watchlist and cron parsing behind `jobs`.
"""
