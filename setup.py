"""Kept for `scrapyd-deploy`, which builds the project's egg with `python setup.py bdist_egg`.

Everything is configured in pyproject.toml (packages `crawler`, `spiders`, `storage` and the
`scrapy` entry point naming `crawler.settings`).
"""

from setuptools import setup

setup()
