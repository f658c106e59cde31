"""Portal users, roles, case grants, sessions, API tokens and login throttling.

They live in `portal.db`, a database of their own next to the catalog, not in the catalog:
users are not evidence and cannot be rebuilt from the store, while the catalog is an index
that `markwatch catalog rebuild` (or an operator) may throw away and make again. Keeping them
apart means a rebuild never logs anyone out or forgets a grant.

Passwords are argon2id hashes (argon2-cffi); session ids and API tokens are random 256-bit
secrets kept only as SHA-256 (a fast hash is enough for secrets that cannot be guessed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crawler.clock import Clock, SystemClock, isoformat
from crawler.exceptions import ConfigError
from storage.sqlite import open_db

ROLES = ("viewer", "investigator", "admin")
SESSION_TTL = dt.timedelta(hours=8)
THROTTLE_WINDOW = dt.timedelta(minutes=15)
THROTTLE_FAILURES = 5
"""Failed logins for one user name within the window before more are refused."""
THROTTLE_CLIENT_FAILURES = 20
"""Failed logins from one client address (an office behind one NAT: more than one user)."""
MIN_PASSWORD = 12

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    name TEXT NOT NULL REFERENCES users (name),
    case_ref TEXT NOT NULL,
    PRIMARY KEY (name, case_ref)
);
CREATE TABLE IF NOT EXISTS tokens (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES users (name),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES users (name),
    csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL,
    client TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_name ON login_failures (name, at);
CREATE INDEX IF NOT EXISTS login_failures_client ON login_failures (client, at);
"""


def portal_db_path(catalog_path: Path) -> Path:
    """Where the users live: `portal.db` in the catalog's folder."""
    return catalog_path.with_name("portal.db")


@dataclass(frozen=True)
class User:
    """A signed-in user: name, role and the cases granted (admins see every case)."""

    name: str
    role: str
    cases: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_export(self) -> bool:
        return self.role in ("investigator", "admin")

    def allowed_cases(self) -> tuple[str, ...] | None:
        """The cases this user may see; None for every case."""
        return None if self.is_admin else self.cases

    def may_see(self, case: str) -> bool:
        return self.is_admin or case in self.cases


class Throttled(Exception):
    """Too many failed logins for this name or client; try again later."""


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class UserDB:
    """The portal's users database. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._db = open_db(self.path, SCHEMA)
        self._hasher = PasswordHasher()  # argon2id, the library's current parameters

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> UserDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, params)]

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def _now(self) -> str:
        return isoformat(self.clock.now())

    # -- administration (markwatch users ...) -----------------------------------------------

    def add(self, name: str, role: str, password: str) -> None:
        """Create a user; ConfigError for a bad name, role or password, or a taken name."""
        name = _check_name(name)
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        hashed = self._hasher.hash(_check_password(password))
        if self._rows("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise ConfigError(f"user {name!r} already exists")
        self._run("INSERT INTO users VALUES (?,?,?,0,?)", (name, role, hashed, self._now()))

    def list(self) -> list[dict[str, Any]]:
        users = self._rows("SELECT name, role, disabled, created_at FROM users ORDER BY name")
        for user in users:
            user["cases"] = [r["case_ref"] for r in self._rows(
                "SELECT case_ref FROM grants WHERE name = ? ORDER BY case_ref", (user["name"],))]
        return users

    def _require(self, name: str) -> None:
        if not self._rows("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise ConfigError(f"no user {name!r}")

    def disable(self, name: str) -> None:
        """Disable a user and end their sessions and tokens."""
        self._require(name)
        self._run("UPDATE users SET disabled = 1 WHERE name = ?", (name,))
        self._run("DELETE FROM sessions WHERE name = ?", (name,))
        self._run("DELETE FROM tokens WHERE name = ?", (name,))

    def set_password(self, name: str, password: str) -> None:
        """Change a password; every session of the user ends."""
        self._require(name)
        hashed = self._hasher.hash(_check_password(password))
        self._run("UPDATE users SET password = ? WHERE name = ?", (hashed, name))
        self._run("DELETE FROM sessions WHERE name = ?", (name,))

    def grant(self, name: str, case: str) -> None:
        self._require(name)
        self._run("INSERT OR IGNORE INTO grants VALUES (?,?)", (name, case))

    def revoke(self, name: str, case: str) -> None:
        self._require(name)
        self._run("DELETE FROM grants WHERE name = ? AND case_ref = ?", (name, case))

    def new_token(self, name: str, label: str = "api") -> str:
        """A new API token for `name`, shown once; only its SHA-256 is kept."""
        self._require(name)
        token = "mwt_" + secrets.token_urlsafe(32)
        self._run("INSERT INTO tokens VALUES (?,?,?,?)", (_sha(token), name, label, self._now()))
        return token

    # -- signing in -------------------------------------------------------------------------

    def user(self, name: str) -> User | None:
        """An enabled user with their grants, or None."""
        rows = self._rows("SELECT role FROM users WHERE name = ? AND disabled = 0", (name,))
        if not rows:
            return None
        cases = tuple(r["case_ref"] for r in self._rows(
            "SELECT case_ref FROM grants WHERE name = ? ORDER BY case_ref", (name,)))
        return User(name, rows[0]["role"], cases)

    def login(self, name: str, password: str, client: str) -> User | None:
        """The user if the password is right; None if not; `Throttled` after many failures."""
        since = isoformat(self.clock.now() - THROTTLE_WINDOW)
        for column, value, limit in (("name", name, THROTTLE_FAILURES),
                                     ("client", client, THROTTLE_CLIENT_FAILURES)):
            count = self._rows(f"SELECT COUNT(*) AS n FROM login_failures "  # noqa: S608
                               f"WHERE {column} = ? AND at >= ?", (value, since))[0]["n"]
            if count >= limit:
                raise Throttled(f"too many failed logins; try again in "
                                f"{int(THROTTLE_WINDOW.total_seconds() // 60)} minutes")
        rows = self._rows("SELECT password FROM users WHERE name = ? AND disabled = 0", (name,))
        stored = rows[0]["password"] if rows else None
        try:
            if stored is None:
                self._hasher.hash(password)  # the same work whether or not the user exists
                raise VerificationError("no such user")
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            self._run("INSERT INTO login_failures VALUES (?,?,?)", (name, client, self._now()))
            return None
        self._run("DELETE FROM login_failures WHERE name = ?", (name,))
        return self.user(name)

    def new_session(self, name: str) -> tuple[str, str]:
        """A new session for `name`: (session id for the cookie, CSRF token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = isoformat(self.clock.now() + SESSION_TTL)
        self._run("DELETE FROM sessions WHERE expires_at < ?", (self._now(),))
        self._run("INSERT INTO sessions VALUES (?,?,?,?)", (_sha(sid), name, csrf, expires))
        return sid, csrf

    def session(self, sid: str) -> tuple[User, str] | None:
        """The user and CSRF token of a live session, or None (unknown or expired)."""
        rows = self._rows("SELECT name, csrf FROM sessions WHERE sha256 = ? AND expires_at >= ?",
                          (_sha(sid), self._now()))
        if not rows:
            return None
        user = self.user(rows[0]["name"])
        return None if user is None else (user, rows[0]["csrf"])

    def end_session(self, sid: str) -> None:
        self._run("DELETE FROM sessions WHERE sha256 = ?", (_sha(sid),))

    def token_user(self, token: str) -> User | None:
        rows = self._rows("SELECT name FROM tokens WHERE sha256 = ?", (_sha(token),))
        return self.user(rows[0]["name"]) if rows else None


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._@-" for c in name):
        raise ConfigError("a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ConfigError("a password is at most 1024 characters")
    return password
