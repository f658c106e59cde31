"""The catalog's Alembic history from a zipped package, as Scrapyd imports a deployed egg.

Alembic reads its scripts from a folder; from a zip `storage.migrate` unpacks them first. A
catalog is made and migrated to the newest revision from the zip, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from storage.migrate import head

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, sqlite3
import storage, storage.migrate as m
assert ".zip" in storage.__file__, storage.__file__
from storage.catalog import Catalog
with Catalog(sys.argv[1]) as catalog:
    pass
print(m.head())
print(sqlite3.connect(sys.argv[1]).execute("SELECT version_num FROM alembic_version").fetchone()[0])
"""


def test_history_read_from_a_zipped_package(tmp_path: Path) -> None:
    egg = tmp_path / "project.zip"
    with zipfile.ZipFile(egg, "w") as zf:
        for path in (ROOT / "storage").rglob("*.py"):
            zf.write(path, path.relative_to(ROOT).as_posix())
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "catalog.db")],
                         env={"PYTHONPATH": str(egg), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [head(), head()]
