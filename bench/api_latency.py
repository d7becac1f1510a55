"""API latency and throughput: p50/p99 and requests per second of the visitor and segment
endpoints at 1, 10 and 50 concurrent clients, over real HTTP against `dataplat serve`.

    .venv/bin/python -m bench.api_latency [--home data] [--clients 1,10,50] [--seconds 10]
    .venv/bin/python -m bench.api_latency --workers 2      # `dataplat serve --workers 2`
    .venv/bin/python -m bench.api_latency --engine trino   # the servers of `make platform-up`

Embedded, the home must hold published marts (`make demo`, or `dataplat transform` after an
ingest); on Trino the platform's marts must have been built and published by `dataplat
transform`. The server is started here on a free port with its own API key and stopped at
the end. The load comes from wrk (Debian package `wrk`: one C thread, one connection per
client, closed loop), which costs the server's two cores far less than a Python client.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.table import Table

from bench.common import DATAPLAT, console

ENDPOINTS = {
    "visitors daily (platform, all days)": "/analytics/visitors/daily?start={first}&end={last}",
    "visitors hourly (mall 1)": "/analytics/visitors/hourly?date={last}&mall_id=1",
    "segment page (mall 1)": "/crm/segments/unused-coupons?mall_id=1&as_of={last}",
}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class Cell:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    not_200: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _key(env: dict[str, str]) -> str:
    result = subprocess.run(
        [*DATAPLAT, "keys", "create", "--name", "bench-latency", "--scope", "platform:read",
         "--scope", "crm:1:read"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * UNITS[unit]


def wrk(url: str, token: str, clients: int, seconds: float) -> Cell:
    """One wrk run; its latency distribution's 50% and 99% lines and its request rate."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "--timeout", "30s",
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    if "Latency Distribution" not in out or "Requests/sec" not in out:
        raise SystemExit(f"wrk measured nothing against {url}:\n{out}{result.stderr}")
    pattern = r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s|m))\s*$"
    quantile = {q: _milliseconds(v) for q, v in re.findall(pattern, out, re.M)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    if socket_errors:
        raise SystemExit(f"wrk: {socket_errors.group(0)} against {url}")
    return Cell(rate, quantile["50"], quantile["99"], int(errors.group(1)) if errors else 0)


def _environment(engine: str, home: Path) -> dict[str, str]:
    env = {**os.environ, "DATAPLAT_HOME": str(home),
           # The per-key rate limit (600/min by default) would answer most requests with
           # 429: the bench measures serving, so its key may ask as often as clients can.
           "DATAPLAT_RATE_LIMIT_PER_MINUTE": "100000000"}  # fmt: skip
    if engine == "trino":
        from bench.kafka_loader import platform_env

        env.update(platform_env())
    return env


def _wait_ready(server: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the API exited with {server.returncode}; see {log}")
        try:
            if httpx.get(f"{base}/readiness", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the API was not ready in 90 s; see {log}")
        time.sleep(0.5)


def _days(base: str, token: str) -> tuple[str, str]:
    """The first and last day of the marts, as the API reports them to a day outside."""
    answer = httpx.get(f"{base}/analytics/visitors/hourly", params={"date": "1900-01-01"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=60)  # fmt: skip
    found = re.search(r"days from (\S+) to (\S+)", answer.json()["detail"])
    if found is None:
        raise SystemExit(f"the marts hold no days: {answer.text}")
    return found.group(1), found.group(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=("duckdb", "trino"), default="duckdb")
    parser.add_argument("--home", type=Path, default=Path("data"))
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="`dataplat serve --workers`")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of the same load before each cell, not counted")  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `sudo apt-get install wrk` (Debian package)")
    home = args.home.resolve()
    if args.engine == "duckdb" and not (home / "serving" / "current.duckdb").exists():
        raise SystemExit(f"no published marts in {home}: run `make demo` (or pass --home)")
    home.mkdir(parents=True, exist_ok=True)  # Trino: the home holds the API keys only

    env = _environment(args.engine, home)
    port = _free_port()
    token = _key(env)
    log = home / f"bench-api-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*DATAPLAT, "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, base, log)
        first, last = _days(base, token)
        table = Table(title=f"API over HTTP on {args.engine}, {args.workers} worker process(es), "
                            f"{args.seconds:.0f} s per cell "
                            f"after {args.warmup:.0f} s of warm-up, days {first} to "
                            f"{last}")  # fmt: skip
        for column in ("endpoint", "clients", "requests/s", "p50 ms", "p99 ms", "not 200"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        failed = 0
        for name, path in ENDPOINTS.items():
            url = base + path.format(first=first, last=last)
            for clients in (int(c) for c in args.clients.split(",")):
                if args.warmup > 0:  # connections opened, the answers' cache filled
                    wrk(url, token, clients, args.warmup)
                cell = wrk(url, token, clients, args.seconds)
                failed += cell.not_200
                table.add_row(name, str(clients), f"{cell.requests_per_second:,.0f}",
                              f"{cell.p50_ms:.1f}", f"{cell.p99_ms:.1f}",
                              str(cell.not_200))  # fmt: skip
        console.print(table)
        console.print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        if failed:
            raise SystemExit(f"{failed} requests did not answer 200: the figures do not count")
    finally:
        server.send_signal(signal.SIGTERM)
        if server.wait(timeout=30) not in (0, -signal.SIGTERM):  # uvicorn re-raises it
            console.print(f"the API ended with {server.returncode}; see {log}")


if __name__ == "__main__":
    main()
