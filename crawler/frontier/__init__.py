"""A crawl frontier shared by many workers through Redis (`--frontier redis://...`).

`queue` is the Redis side (queues, leases, claims, politeness), `codec` turns a spider's
requests into JSON and back, `scheduler` and `components` are the Scrapy parts a worker runs,
`seed`, `worker` and `finalize` start, serve and close a distributed run. See docs/scaling.md.
"""
