"""Reads kcat ``-J`` dumps (one JSON envelope per line, one file per topic) as Arrow batches.

Envelopes are parsed by pyarrow's C++ JSON reader. kcat writes message bytes that are not
UTF-8 into the line as they are; pyarrow refuses such a block, so those few lines are split
out and parsed one by one, turning the payload back into the exact original bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from loader.records import SOURCE_SCHEMA

CHUNK_BYTES = 32 << 20
# Several Arrow record batches per chunk let pyarrow and DuckDB work on both cores. A block
# must hold the longest line: a chunk with a longer one (a message of many MB) is parsed
# again with blocks that fit it.
BLOCK_BYTES = 4 << 20

_ENVELOPE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("tstype", pa.string()),
        ("ts", pa.int64()),
        ("key", pa.string()),
        ("payload", pa.string()),
    ]
)


class CorruptDumpError(ValueError):
    """A line of a dump file is not a kcat envelope (the file itself is damaged)."""


def _from_envelopes(envelopes: pa.Table) -> pa.Table:
    no_timestamp = pc.equal(envelopes["tstype"], "none")
    timestamp = pc.if_else(
        pc.fill_null(no_timestamp, False), pa.scalar(None, pa.int64()), envelopes["ts"]
    )
    return pa.Table.from_arrays(
        [
            envelopes["topic"],
            envelopes["partition"],
            envelopes["offset"],
            timestamp,
            envelopes["key"].cast(pa.binary()),
            envelopes["payload"].cast(pa.binary()),
        ],
        schema=SOURCE_SCHEMA,
    )


def _read_envelopes(block: bytes, block_size: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(block),
        read_options=pj.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pj.ParseOptions(
            explicit_schema=_ENVELOPE_SCHEMA, unexpected_field_behavior="ignore"
        ),
    )


def _parse_block(block: bytes, where: str) -> pa.Table:
    try:
        try:
            envelopes = _read_envelopes(block, BLOCK_BYTES)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            longest = max(len(line) for line in block.split(b"\n"))
            envelopes = _read_envelopes(block, max(BLOCK_BYTES, longest + 1))
    except (pa.ArrowInvalid, ValueError) as exc:
        raise CorruptDumpError(
            f"{where} holds a line that is not a kcat -J envelope ({exc}); "
            "re-dump the topic with `kcat -C -J -e -t <topic>`"
        ) from exc
    if envelopes.num_rows and (envelopes["offset"].null_count or envelopes["partition"].null_count):
        raise CorruptDumpError(f"{where} has an envelope without partition or offset")
    return _from_envelopes(envelopes)


def _parse_non_utf8_line(line: bytes, where: str) -> dict:
    try:
        envelope = json.loads(line.decode("utf-8", "surrogateescape"))
        payload, key = envelope.get("payload"), envelope.get("key")
        ts = None if envelope.get("tstype") == "none" else envelope.get("ts")
        return {
            "topic": envelope["topic"],
            "partition": int(envelope["partition"]),
            "offset": int(envelope["offset"]),
            "timestamp_ms": ts,
            "key": None if key is None else key.encode("utf-8", "surrogateescape"),
            "value": None if payload is None else payload.encode("utf-8", "surrogateescape"),
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptDumpError(f"{where} holds a line that is not a kcat -J envelope") from exc


def _parse_chunk(chunk: bytes, where: str) -> pa.Table:
    try:
        chunk.decode("utf-8")
        return _parse_block(chunk, where)
    except UnicodeDecodeError:
        pass
    good: list[bytes] = []
    odd: list[dict] = []
    for line in chunk.split(b"\n"):
        try:
            line.decode("utf-8")
            good.append(line)
        except UnicodeDecodeError:
            odd.append(_parse_non_utf8_line(line, where))
    odd_table = pa.Table.from_pylist(odd, schema=SOURCE_SCHEMA)
    good_block = b"\n".join(good)
    if not good_block.strip():  # every line of the chunk had non-UTF-8 bytes
        return odd_table
    return pa.concat_tables([_parse_block(good_block, where), odd_table])


def read_dump_batches(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[pa.Table, int]]:
    """Yields Arrow batches of records (``SOURCE_SCHEMA``) with the bytes read so far."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            if not chunk.endswith(b"\n"):
                chunk += handle.readline()  # finish the last line
            yield _parse_chunk(chunk, f"{path} (before byte {handle.tell()})"), handle.tell()


def dump_files(directory: Path) -> list[Path]:
    """The topic dumps of a directory, in name order (``_manifest.json`` and others are skipped)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory; pass the folder of <topic>.jsonl")
    files = sorted(p for p in directory.glob("*.jsonl") if not p.name.startswith("_"))
    if not files:
        raise FileNotFoundError(f"no <topic>.jsonl files in {directory}; run `dataplat generate`")
    return files
