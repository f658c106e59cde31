"""markwatch: a marketplace crawler and evidence archiver for brand protection."""

from __future__ import annotations

__version__ = "0.1.0"
SOFTWARE_NAME = "markwatch"

__all__ = ["SOFTWARE_NAME", "__version__"]
