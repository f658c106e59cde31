"""Run orchestration: running a crawl, its ledger and run record, resuming an unfinished run.

`runner` runs one crawl run in this process, `ledger` keeps what a run captured and writes its
run record, `resume` finds and repairs an unfinished run so the next start carries it on.
"""
