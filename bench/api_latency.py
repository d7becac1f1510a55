"""API latency and throughput: p50/p99 and requests per second of the visitor and segment
endpoints at 1, 10 and 50 concurrent clients, over real HTTP against `dataplat serve`.

    .venv/bin/python -m bench.api_latency [--home data] [--clients 1,10,50] [--seconds 10]

The home must hold published marts (`make demo`, or `dataplat transform` after an ingest).
The server is started here on a free port with its own API key and stopped at the end; the
clients (asyncio, one connection each) run on the same machine, so on 2 cores they share the
CPU with the server: the figures are the whole machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path

import duckdb
import httpx
from rich.table import Table

from bench.common import DATAPLAT, console

ENDPOINTS = {
    "visitors daily (platform, 2 days)": "/analytics/visitors/daily?start={first}&end={last}",
    "visitors hourly (mall 1)": "/analytics/visitors/hourly?date={last}&mall_id=1",
    "segment page (mall 1)": "/crm/segments/unused-coupons?mall_id=1&as_of={last}",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _key(home: Path) -> str:
    result = subprocess.run(
        [*DATAPLAT, "keys", "create", "--name", "bench-latency", "--scope", "platform:read",
         "--scope", "crm:1:read"],
        env={**os.environ, "DATAPLAT_HOME": str(home)}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return result.stdout.strip()


async def _client(url: str, headers: dict, until: float, latencies: list[float]) -> int:
    errors = 0
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        while time.perf_counter() < until:
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200
    return errors


async def _load(url: str, headers: dict, clients: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    errors = await asyncio.gather(
        *(_client(url, headers, until, latencies) for _ in range(clients))
    )
    return latencies, sum(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("data"))
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    home = args.home.resolve()
    if not (home / "serving" / "current.duckdb").exists():
        raise SystemExit(f"no published marts in {home}: run `make demo` (or pass --home)")

    port = _free_port()
    headers = {"Authorization": f"Bearer {_key(home)}"}
    log = (home / f"bench-api-{port}.log").open("wb")
    server = subprocess.Popen(
        [*DATAPLAT, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
        # The per-key rate limit (600/min by default) would answer most requests with 429:
        # the bench measures serving, so its key may ask as often as the clients can.
        env={**os.environ, "DATAPLAT_HOME": str(home),
             "DATAPLAT_RATE_LIMIT_PER_MINUTE": "100000000"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the API exited with {server.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/readiness", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the API was not ready in 60 s; see {log.name}")
            time.sleep(0.5)
        with duckdb.connect(str(home / "serving" / "current.duckdb"), read_only=True) as con:
            first, last = (str(d) for d in con.execute(
                "select min(date_kst), max(date_kst) from marts.platform_visitors_daily"
            ).fetchone())  # fmt: skip

        table = Table(title=f"API over HTTP, {args.seconds:.0f} s per cell ({home})")
        for column in ("endpoint", "clients", "requests/s", "p50 ms", "p99 ms", "errors"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        failed = 0
        for name, path in ENDPOINTS.items():
            url = base + path.format(first=first, last=last)
            for clients in (int(c) for c in args.clients.split(",")):
                latencies, errors = asyncio.run(_load(url, headers, clients, args.seconds))
                failed += errors
                quantiles = statistics.quantiles(latencies, n=100)
                table.add_row(name, str(clients), f"{len(latencies) / args.seconds:,.0f}",
                              f"{quantiles[49] * 1000:.1f}", f"{quantiles[98] * 1000:.1f}",
                              str(errors))  # fmt: skip
        console.print(table)
        if failed:
            raise SystemExit(f"{failed} requests did not answer 200: the figures do not count")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
