"""Blocking calls made from the event loop on a worker thread, once for everyone asking.

When many requests need the same answer at the same moment (a cold cache after a publish,
a key whose verification just expired), one call runs and every request awaits its result
instead of each sending the same query to the engine or the key database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

from anyio import to_thread


class SharedCalls:
    """Concurrent ``run`` calls with the same key share one call of ``function``. Used from
    the event loop only."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future] = {}

    def start(self, key: Hashable, function: Callable[..., Any], *args: Any) -> asyncio.Future:
        """The running call for ``key``, started when there is none; nobody has to await
        it (a refresh in the background)."""
        call = self._running.get(key)
        if call is None:
            call = asyncio.ensure_future(to_thread.run_sync(function, *args))
            self._running[key] = call
            call.add_done_callback(lambda _: self._forget(key, call))
        return call

    async def run(self, key: Hashable, function: Callable[..., Any], *args: Any) -> Any:
        # A request that goes away (client disconnected) leaves the call to the others.
        return await asyncio.shield(self.start(key, function, *args))

    def _forget(self, key: Hashable, call: asyncio.Future) -> None:
        if self._running.get(key) is call:
            del self._running[key]
        if not call.cancelled():
            call.exception()  # retrieved: an error nobody awaited any more is not logged
