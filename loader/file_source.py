"""Reads kcat ``-J`` dumps (one JSON envelope per line, one file per topic) as Arrow batches.

Envelopes are parsed by pyarrow's C++ JSON reader. kcat writes message bytes that are not
UTF-8 into the line as they are; pyarrow refuses such a block, so those few lines are split
out and parsed one by one, turning the payload back into the exact original bytes.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from loader.records import SOURCE_SCHEMA
from loader.settings import DUMP_CHUNK_BYTES

# Several Arrow record batches per chunk let pyarrow and DuckDB work on both cores. A block
# must hold the longest line: a chunk with a longer one (a message of many MB) is parsed
# again with blocks that fit it.
BLOCK_BYTES = 4 << 20
# A chunk with bytes that are not UTF-8 is checked in stretches of this many bytes of lines.
STRETCH_BYTES = 64 << 10

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


def _is_utf8(data: bytes | memoryview) -> bool:
    try:
        str(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _split_non_utf8(chunk: bytes) -> tuple[bytes, list[bytes]]:
    """The chunk's UTF-8 lines (as one block, in order) and its other lines. Whole stretches
    of lines are checked at once and only a stretch that fails is checked line by line: a
    dump's odd lines are few, and a chunk has tens of thousands of lines."""
    view = memoryview(chunk)
    good: list[bytes | memoryview] = []
    odd: list[bytes] = []
    start = 0
    while start < len(chunk):
        newline = chunk.find(b"\n", min(start + STRETCH_BYTES, len(chunk)) - 1)
        end = len(chunk) if newline < 0 else newline + 1
        stretch = view[start:end]
        if _is_utf8(stretch):
            good.append(stretch)
        else:
            for line in bytes(stretch).split(b"\n")[: -1 if newline >= 0 else None]:
                if _is_utf8(line):
                    good.append(line + b"\n")
                else:
                    odd.append(line)
        start = end
    return b"".join(good), odd


def _parse_chunk(chunk: bytes, where: str) -> pa.Table:
    """The chunk's records as one batch. Its non-UTF-8 lines come last, out of file order:
    the sink takes a batch's read positions as a whole, so a batch must never be split (an
    earlier slice's positions would pass those lines, and they would pass for loaded)."""
    if _is_utf8(chunk):
        return _parse_block(chunk, where)
    good_block, odd_lines = _split_non_utf8(chunk)
    odd = [_parse_non_utf8_line(line, where) for line in odd_lines]
    odd_table = pa.Table.from_pylist(odd, schema=SOURCE_SCHEMA)
    if not good_block.strip():  # every line of the chunk had non-UTF-8 bytes
        return odd_table
    return pa.concat_tables([_parse_block(good_block, where), odd_table])


def _read_batches(path: Path, chunk_bytes: int) -> Iterator[tuple[pa.Table, int]]:
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            if not chunk.endswith(b"\n"):
                chunk += handle.readline()  # finish the last line
            yield _parse_chunk(chunk, f"{path} (before byte {handle.tell()})"), handle.tell()


_DONE = object()


def _read_ahead(batches: Iterator[tuple[pa.Table, int]]) -> Iterator[tuple[pa.Table, int]]:
    """The same batches, the next one read and parsed in a thread while the caller works on
    this one (pyarrow's parser releases the GIL, as DuckDB does). One batch ahead at most:
    memory stays that of two chunks. An error is raised where the batch would have been."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the reader, raised there
            put(exc)

    reader = threading.Thread(target=run, name="dump-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()


def read_dump_batches(
    path: Path, chunk_bytes: int = DUMP_CHUNK_BYTES
) -> Iterator[tuple[pa.Table, int]]:
    """Yields Arrow batches of records (``SOURCE_SCHEMA``) with the bytes read so far."""
    yield from _read_ahead(_read_batches(path, chunk_bytes))


def dump_files(directory: Path) -> list[Path]:
    """The topic dumps of a directory, in name order (``_manifest.json`` and others are skipped)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory; pass the folder of <topic>.jsonl")
    files = sorted(p for p in directory.glob("*.jsonl") if not p.name.startswith("_"))
    if not files:
        raise FileNotFoundError(f"no <topic>.jsonl files in {directory}; run `dataplat generate`")
    return files
