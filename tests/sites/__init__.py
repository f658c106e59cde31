"""Local test marketplaces other than the bundled demo (stdlib servers on 127.0.0.1)."""
