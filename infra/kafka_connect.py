"""Kafka Connect and Apache Iceberg's Kafka Connect sink from Maven Central, for the peer
benchmark (bench/kafka_connect_peer.py).

    python -m infra.kafka_connect    resolve both (once) and print where they are

The worker (connect-runtime and connect-json, infra/kafka-connect/runtime.pom.xml) goes on
the JVM's class path; the sink with the JDBC catalog's PostgreSQL driver, Parquet and Hadoop's
shaded client for a file:// warehouse (infra/kafka-connect/iceberg-sink.pom.xml) goes into a
Connect plugin folder, which the worker loads in its own class loader: the sink's Jackson and
Avro never meet the worker's. Both are resolved with `mvn dependency:copy-dependencies` into
DATAPLAT_PLATFORM_CACHE (default ~/.cache/dataplat-platform), like the broker (infra/platform.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from infra.platform import CACHE, REPO, PlatformError

POMS = REPO / "infra" / "kafka-connect"


def _version(pom: Path, pattern: str) -> str:
    found = re.search(pattern, pom.read_text())
    if not found:
        raise PlatformError(f"no version matching {pattern!r} in {pom}")
    return found.group(1)


CONNECT_VERSION = _version(
    POMS / "runtime.pom.xml", r"<artifactId>connect-runtime</artifactId>\s*<version>([^<]+)<"
)
ICEBERG_VERSION = _version(POMS / "iceberg-sink.pom.xml", r"<iceberg.version>([^<]+)<")


def resolve(pom: Path, target: Path, marker: str) -> Path:
    """copy-dependencies of `pom` into `target`, once: a folder with `marker` is complete."""
    if any(target.glob(marker)):
        return target
    if not shutil.which("mvn"):
        raise PlatformError("mvn not found on PATH: install Maven (Debian: apt-get install maven)")
    # Beside the cache's folders, never inside a plugin folder (Connect would load it).
    staging = CACHE / f"{target.parent.name}.{target.name}.part"
    shutil.rmtree(staging, ignore_errors=True)
    print(f"[kafka-connect] resolving {pom.name} from Maven Central into {target}",
          file=sys.stderr, flush=True)  # fmt: skip
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0 or not any(staging.glob(marker)):
        raise PlatformError(
            f"mvn could not resolve {pom} (exit {result.returncode}); Maven Central must be "
            f"reachable (or ~/.m2 hold the jars):\n{(result.stdout + result.stderr)[-3000:]}"
        )
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    return target


def fetch_worker() -> Path:
    """The worker's jar folder (the runtime, JsonConverter, the REST API's basic auth)."""
    return resolve(
        POMS / "runtime.pom.xml", CACHE / f"kafka-connect-{CONNECT_VERSION}",
        f"connect-basic-auth-extension-{CONNECT_VERSION}.jar",
    )  # fmt: skip


def fetch_connect() -> tuple[Path, Path]:
    """(the worker's jar folder, the plugin.path folder holding the Iceberg sink)."""
    libs = fetch_worker()
    plugins = CACHE / f"kafka-connect-plugins-iceberg-{ICEBERG_VERSION}"
    resolve(
        POMS / "iceberg-sink.pom.xml", plugins / "iceberg-kafka-connect",
        f"iceberg-kafka-connect-{ICEBERG_VERSION}.jar",
    )  # fmt: skip
    return libs, plugins


def main() -> None:
    try:
        libs, plugins = fetch_connect()
    except PlatformError as exc:
        sys.exit(f"error: {exc}")
    print(f"Kafka Connect {CONNECT_VERSION}: {libs}\n"
          f"Iceberg {ICEBERG_VERSION} sink (plugin.path): {plugins}")  # fmt: skip


if __name__ == "__main__":
    main()
