"""`python -m crawler ...` runs the `markwatch` command (how the scheduler starts its runs)."""

from crawler.cli.main import main

main()
