"""The rate limit per API key: a token bucket, ``per_minute`` requests a minute with bursts up
to that many. One API process keeps the buckets in memory; the workers of
``dataplat serve --workers N`` share theirs in a SQLite file, so a key gets the same
allowance however the kernel spreads its connections over the workers."""

from __future__ import annotations

import fcntl
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from api.settings import ApiSettings


class RateLimiter(Protocol):
    capacity: float

    def retry_after(self, key_id: str) -> int:
        """0 when the request may go now, else the seconds until it may."""


def _seconds_until_a_token(tokens: float, refill_per_second: float) -> int:
    return max(1, math.ceil((1 - tokens) / refill_per_second))


class InProcessRateLimiter:
    """The buckets in this process's memory: one API process."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0
            self._buckets[key_id] = (tokens, now)
            return _seconds_until_a_token(tokens, self.refill_per_second)


# One statement, so one SQLite transaction: the bucket is refilled for the time since its last
# request and, when a whole token is there, one is taken. Every SET reads the row as it was.
_TAKE_A_TOKEN = """
insert into buckets (key_id, tokens, at, granted) values (:key_id, :capacity - 1, :now, 1)
on conflict (key_id) do update set
    tokens = min(:capacity, tokens + (:now - at) * :refill)
        - (min(:capacity, tokens + (:now - at) * :refill) >= 1),
    at = :now,
    granted = min(:capacity, tokens + (:now - at) * :refill) >= 1
returning tokens, granted
"""


class SharedRateLimiter:
    """The buckets in a SQLite file that every worker of one server opens: a request's token is
    taken in one short write transaction, about 15 microseconds. Wall-clock seconds, so the
    buckets mean the same in every process.

    The workers take turns through a lock file of their own (flock): a worker waiting for it
    wakes the moment it is free. SQLite's own wait for a locked file sleeps and retries
    instead, 1 ms at first and longer after; two busy workers waited up to half a second."""

    def __init__(self, per_minute: int, path: Path):
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # flock does not keep this process's threads apart
        self._turns = path.with_suffix(".lock").open("a")
        # Autocommit: each statement is its own transaction. Requests come from the event
        # loop's thread; the lock keeps the connection to one thread at a time anyway.
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
        with self._turn():  # workers starting together would find the file locked
            self._db.execute("pragma journal_mode = wal")
            self._db.execute("pragma synchronous = off")  # a bucket lost in a crash: harmless
            self._db.execute(
                "create table if not exists buckets (key_id text primary key, "
                "tokens real not null, at real not null, granted integer)"
            )

    @contextmanager
    def _turn(self) -> Iterator[None]:
        with self._lock:
            fcntl.flock(self._turns, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._turns, fcntl.LOCK_UN)

    def retry_after(self, key_id: str) -> int:
        parameters = {"key_id": key_id, "capacity": self.capacity, "now": time.time(),
                      "refill": self.refill_per_second}  # fmt: skip
        with self._turn():
            tokens, granted = self._db.execute(_TAKE_A_TOKEN, parameters).fetchone()
        return 0 if granted else _seconds_until_a_token(tokens, self.refill_per_second)


def create_rate_limiter(settings: ApiSettings) -> RateLimiter:
    if settings.api_workers > 1:
        return SharedRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_db_path)
    return InProcessRateLimiter(settings.rate_limit_per_minute)
