"""Console operators: Argon2id password hashes in a 0600 file, server-side sessions
with a random id, a CSRF token per session, and a throttle on failed logins.

The password file holds only Argon2id hashes (PyNaCl ``nacl.pwhash.argon2id``, the
libsodium encoding with its own salt and parameters). A first-run one-time password
is marked ``one_time``: after logging in with it the operator must choose a new one
before any page opens.
"""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import nacl.exceptions
import nacl.pwhash

from keys.files import write_atomic
from schemas.errors import ConfigError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
DEFAULT_USER = "operator"


@functools.cache
def _dummy_hash() -> bytes:
    """Verified against when the user does not exist, so a wrong name costs the same."""
    return nacl.pwhash.argon2id.str(b"lali-dummy-password", opslimit=OPSLIMIT, memlimit=MEMLIMIT)


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (libsodium encoding), after the length rules."""
    check_password_rules(password)
    return nacl.pwhash.argon2id.str(
        password.encode("utf-8"), opslimit=OPSLIMIT, memlimit=MEMLIMIT
    ).decode("ascii")


def check_password_rules(password: str) -> None:
    """Raise ``ValueError`` unless ``password`` has an acceptable length."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def new_one_time_password() -> str:
    """A random first-login password (shown once, replaced at the first login)."""
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


@dataclass(frozen=True)
class Account:
    """An operator who has just proved their password."""

    user: str
    one_time: bool


class PasswordFile:
    """``{"users": {name: {"hash": "$argon2id$…", "one_time": bool}}}``, mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """True if the file names at least one operator."""
        return self.path.exists() and bool(self._load())

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the password file {self.path}: {exc}") from exc
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ConfigError(f"{self.path} is not a Lali console password file")
        return users

    def set(self, user: str, password: str, *, one_time: bool = False) -> None:
        """Add or replace ``user``; the file is rewritten atomically, mode 0600."""
        if not user or not user.isascii() or not user.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a user name is letters, digits, '-' and '_'")
        users = self._load()
        users[user] = {"hash": hash_password(password), "one_time": one_time}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"users": users}, indent=2, sort_keys=True) + "\n"
        write_atomic(self.path, data.encode("utf-8"), 0o600)

    def verify(self, user: str, password: str) -> Account | None:
        """The account if ``password`` is right; None otherwise (same cost either way)."""
        entry = self._load().get(user)
        stored = str(entry.get("hash", "")) if isinstance(entry, dict) else ""
        candidate = password.encode("utf-8")[: MAX_PASSWORD * 4]
        try:
            nacl.pwhash.argon2id.verify(stored.encode() if stored else _dummy_hash(), candidate)
        except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
            return None
        if not stored or not isinstance(entry, dict):
            return None
        return Account(user, bool(entry.get("one_time", False)))


def first_run_password(passwords: PasswordFile, user: str = DEFAULT_USER) -> str | None:
    """With no operator yet, create ``user`` with a one-time password and return it
    (to be shown once, on the terminal); None if operators exist."""
    if passwords.exists():
        return None
    password = new_one_time_password()
    passwords.set(user, password, one_time=True)
    return password


@dataclass
class Session:
    """A console session: its cookie id, CSRF token, times and user."""

    id: str
    csrf: str
    created: datetime
    seen: datetime
    user: str | None = None  # None: a login form's session, not logged in
    must_change: bool = False


@dataclass
class Sessions:
    """In memory: a restart logs everyone out, which is the safe direction."""

    idle: timedelta
    max_age: timedelta
    clock: Callable[[], datetime]
    max_anonymous: int = 1000
    _by_id: dict[str, Session] = field(default_factory=dict)

    def _new(self, user: str | None, must_change: bool = False) -> Session:
        now = self.clock()
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, user, must_change
        )
        self._by_id[session.id] = session
        return session

    def anonymous(self) -> Session:
        """A session for the login form (its CSRF token); capped, oldest dropped."""
        anonymous = [s for s in self._by_id.values() if s.user is None]
        for old in sorted(anonymous, key=lambda s: s.created)[
            : max(0, len(anonymous) - self.max_anonymous + 1)
        ]:
            self._by_id.pop(old.id, None)
        return self._new(None)

    def login(self, previous: Session | None, account: Account) -> Session:
        """A fresh id at login (no fixation): the login form's session is dropped."""
        if previous is not None:
            self._by_id.pop(previous.id, None)
        return self._new(account.user, account.one_time)

    def get(self, session_id: str | None) -> Session | None:
        """The live session ``session_id`` (its idle time restarts); None if unknown or expired."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle or now - session.created > self.max_age:
            self._by_id.pop(session.id, None)
            return None
        session.seen = now
        return session

    def drop(self, session: Session) -> None:
        """End ``session`` (logout)."""
        self._by_id.pop(session.id, None)

    def drop_user(self, user: str, keep: Session | None = None) -> None:
        """After a password change: every other session of that user ends."""
        for s in list(self._by_id.values()):
            if s.user == user and s is not keep:
                self._by_id.pop(s.id, None)

    def password_changed(self, session: Session) -> None:
        """``session``'s user has chosen a new password: the session may open pages
        again, and every other session of that user ends."""
        if session.user is None:
            raise RuntimeError("a login form's session has no password to change")
        session.must_change = False
        self.drop_user(session.user, keep=session)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """True if ``token`` is the session's CSRF token (compared in constant time)."""
    return (
        session is not None
        and token is not None
        and hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "replace"))
    )


@dataclass
class LoginThrottle:
    """At most ``limit`` failed logins per user name in ``window``; then refused until
    the oldest failure leaves the window (online guessing stays slow)."""

    clock: Callable[[], datetime]
    limit: int = 5
    window: timedelta = timedelta(minutes=10)
    _failures: dict[str, list[datetime]] = field(default_factory=dict)

    def _recent(self, user: str) -> list[datetime]:
        now = self.clock()
        recent = [t for t in self._failures.get(user, []) if now - t < self.window]
        if recent:
            self._failures[user] = recent
        else:
            self._failures.pop(user, None)
        return recent

    def allowed(self, user: str) -> bool:
        """True while ``user`` has fewer than ``limit`` recent failures."""
        return len(self._recent(user)) < self.limit

    def failed(self, user: str) -> None:
        """Count a failed login for ``user``."""
        if len(self._failures) > 10_000:  # many names guessed: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(user, []).append(self.clock())

    def succeeded(self, user: str) -> None:
        """Forget ``user``'s failures after a successful login."""
        self._failures.pop(user, None)
