"""librdkafka's own log lines, routed into our structured log.

Without a logger, librdkafka writes to stderr from its threads, interleaved mid-line with
the JSON log; given one, confluent-kafka hands each line to it on the polling thread.
"""

from __future__ import annotations

import logging

import structlog


class LibrdkafkaLogger:
    """The ``logger`` of a confluent-kafka client configuration."""

    def __init__(self, client: str):
        self._log = structlog.get_logger("librdkafka").bind(client=client)

    def log(self, level: int, message: str, *args: object) -> None:
        text = message % args if args else message
        if level >= logging.ERROR:
            self._log.error("librdkafka", detail=text)
        elif level >= logging.WARNING:
            self._log.warning("librdkafka", detail=text)
        else:
            self._log.debug("librdkafka", detail=text)
