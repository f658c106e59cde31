"""Store keys of the re-parse records (defined in `storage.layout`, named here for this
package)."""

from __future__ import annotations

from storage.layout import REPARSES as REPARSE_PREFIX
from storage.layout import reparse_key

__all__ = ["REPARSE_PREFIX", "reparse_key"]
