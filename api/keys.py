"""API keys: bearer tokens with scopes, stored only as SHA-256 hashes.

A token is ``dp_<key id>_<secret>``: the key id finds the row, the hash of the whole token
must match it. Tokens carry 256 random bits, so a fast hash is enough (no password hashing).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cachetools import TTLCache

from api.shared_calls import SharedCalls

SCOPE_PATTERN = re.compile(r"^(platform:read|(mall|crm):[1-9][0-9]{0,18}:read)$")

metadata = sa.MetaData()
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),  # space-separated
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)


class InvalidScope(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """Keys in a database. A key verified less than ``cache_seconds`` ago may be trusted
    without asking the database again (a revocation then takes that long)."""

    def __init__(self, uri: str, cache_seconds: float = 0):
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._engine = sa.create_engine(uri)
        metadata.create_all(self._engine)
        self._cache_seconds = cache_seconds
        # token digest -> (key, when it was verified); gone after cache_seconds
        self._verified: TTLCache[str, tuple[ApiKey, float]] | None = (
            TTLCache(maxsize=10_000, ttl=cache_seconds) if cache_seconds > 0 else None
        )
        self._lock = threading.Lock()
        self._lookups = SharedCalls()

    def create(self, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
        """A new key and its token; the token is shown once and never stored."""
        bad = [s for s in scopes if not SCOPE_PATTERN.match(s)]
        if bad or not scopes:
            raise InvalidScope(
                f"invalid scopes {bad or scopes}: "
                "use platform:read, mall:<id>:read or crm:<id>:read"
            )
        key_id = secrets.token_hex(6)
        token = f"dp_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, frozenset(scopes), datetime.now(UTC))
        with self._engine.begin() as con:
            con.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    scopes=" ".join(sorted(scopes)),
                    token_sha256=_digest(token),
                    created_at=key.created_at,
                )
            )
        return key, token

    def list(self) -> list[ApiKey]:
        with self._engine.connect() as con:
            rows = con.execute(api_keys.select().order_by(api_keys.c.created_at)).fetchall()
        return [self._key(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        with self._engine.begin() as con:
            result = con.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return result.rowcount == 1

    async def verify_shared(self, token: str) -> ApiKey | None:
        """``verify`` from the event loop. A key verified less than ``cache_seconds`` ago is
        answered at once; past half that time it is verified again in the background, so
        the requests of a busy key never all wait for the database together. Any other
        token is looked up on a worker thread, once for every request bringing it meanwhile."""
        digest = _digest(token)
        cached = self._cached(digest)
        if cached is None:
            return await self._lookups.run(digest, self._verify_now, token)
        key, verified_at = cached
        if time.monotonic() - verified_at > self._cache_seconds / 2:
            self._lookups.start(digest, self._verify_now, token)
        return key

    def verify(self, token: str) -> ApiKey | None:
        """The active key a token belongs to, or None."""
        cached = self._cached(_digest(token))
        return cached[0] if cached is not None else self._verify_now(token)

    def _cached(self, digest: str) -> tuple[ApiKey, float] | None:
        if self._verified is None:
            return None
        with self._lock:
            return self._verified.get(digest)

    def _verify_now(self, token: str) -> ApiKey | None:
        """Asks the database, and keeps (or, revoked, forgets) what it says."""
        match = re.fullmatch(r"dp_([0-9a-f]{12})_[A-Za-z0-9_-]{20,100}", token)
        if not match:
            return None
        digest = _digest(token)
        key = self._lookup(match.group(1), digest)
        if self._verified is not None:
            with self._lock:
                if key is None:
                    self._verified.pop(digest, None)
                else:
                    self._verified[digest] = (key, time.monotonic())
        return key

    def _lookup(self, key_id: str, digest: str) -> ApiKey | None:
        with self._engine.connect() as con:
            row = con.execute(api_keys.select().where(api_keys.c.key_id == key_id)).fetchone()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_sha256, digest):
            return None
        return self._key(row)

    @staticmethod
    def _key(row) -> ApiKey:
        return ApiKey(row.key_id, row.name, frozenset(row.scopes.split()), row.created_at,
                      row.revoked_at)  # fmt: skip
