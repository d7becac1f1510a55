"""ASGI plumbing for the API's request observer (api/main.py): the response's status."""

from __future__ import annotations

from starlette.types import Message, Send


class StatusNotingSend:
    """Passes every message on to ``send`` and remembers the status of the response it
    started: 500 until one starts (an app that raised before answering)."""

    def __init__(self, send: Send):
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)
