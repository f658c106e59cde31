"""The `markwatch` command line."""
