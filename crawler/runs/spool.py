"""The run ledger's capture entries, kept in an unnamed temporary file as the run goes.

A run record lists every capture the run stored, so its ledger needs them all at the end; held
as Python objects they cost about 0.8 KiB each for the whole run (8 MiB at 10,000 captures,
800 MiB at a million). `EntrySpool` appends each entry as one JSON line to a temporary file
(deleted when closed, or by the system when the process dies) and reads them back only when
the record is written, so the crawl's memory does not grow with the number of captures. What
it keeps in memory is a count per kind.

A spool that cannot write (disk full, no temporary directory) keeps its entries in memory
from then on and says so once: the run record must list every capture, so nothing is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.runs.ledger import CaptureEntry

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
FIELDS = ("capture_id", "kind", "url", "manifest_key", "manifest_sha256")


class EntrySpool:
    """Capture entries appended to a file and read back in the order they came."""

    def __init__(self, file: IO[bytes] | None = None, directory: str | None = None) -> None:
        """`file`, if given, is written with `os.pwrite` and read with `os.pread` from offset 0."""
        self._file = file
        self._directory = directory
        self._lock = threading.Lock()
        self._size = 0  # bytes of whole entries written; anything after them is ignored
        self._count = 0
        self._kinds: dict[str, int] = {}
        self._memory: list[CaptureEntry] | None = None  # only once the file failed

    def _fd(self) -> int:
        if self._file is None:  # made on the first entry: a run that stores nothing makes none
            self._file = tempfile.TemporaryFile(  # noqa: SIM115 (open for the run; close())
                prefix="markwatch-ledger-", dir=self._directory)
        return self._file.fileno()

    def append(self, entry: CaptureEntry) -> None:
        with self._lock:
            if self._memory is None:
                line = json.dumps([getattr(entry, name) for name in FIELDS],
                                  ensure_ascii=False).encode() + b"\n"
                try:
                    fd, view = self._fd(), memoryview(line)
                    while view:
                        view = view[os.pwrite(fd, view, self._size + len(line) - len(view)):]
                    self._size += len(line)
                except OSError as exc:
                    logger.warning("the run ledger cannot write its temporary file (%s); "
                                   "keeping its entries in memory", exc)
                    self._memory = list(self._read())
            if self._memory is not None:
                self._memory.append(entry)
            self._count += 1
            self._kinds[entry.kind] = self._kinds.get(entry.kind, 0) + 1

    def extend(self, entries: Iterable[CaptureEntry]) -> None:
        for entry in entries:
            self.append(entry)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def kinds(self) -> dict[str, int]:
        """How many entries of each kind (listing, search, blocked, gone)."""
        return dict(self._kinds)

    def __iter__(self) -> Iterator[CaptureEntry]:
        with self._lock:
            entries = list(self._memory) if self._memory is not None else list(self._read())
        return iter(entries)

    def _read(self) -> Iterator[CaptureEntry]:
        from crawler.runs.ledger import CaptureEntry

        if self._file is None:
            return
        fd, offset, rest = self._file.fileno(), 0, b""
        while offset < self._size:
            chunk = os.pread(fd, min(READ_CHUNK, self._size - offset), offset)
            if not chunk:
                raise OSError(f"the run ledger's temporary file ends at {offset} bytes, "
                              f"not {self._size}")
            offset += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield CaptureEntry(*json.loads(line))

    def close(self) -> None:
        """Delete the file; the entries are gone with it."""
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
