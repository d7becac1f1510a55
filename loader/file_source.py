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
from typing import BinaryIO

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
# Past a chunk's first ``chunk_bytes``, a dump is read this many bytes at a time to the end of
# the line it stopped in.
READ_BYTES = 64 << 10

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


def _read_envelopes(block: memoryview, block_size: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(block),
        read_options=pj.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pj.ParseOptions(
            explicit_schema=_ENVELOPE_SCHEMA, unexpected_field_behavior="ignore"
        ),
    )


def _parse_block(block: memoryview, where: str) -> pa.Table:
    try:
        try:
            envelopes = _read_envelopes(block, BLOCK_BYTES)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            longest = max(len(line) for line in bytes(block).split(b"\n"))
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


def _is_utf8(data: memoryview) -> bool:
    try:
        str(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blank_non_utf8(buffer: bytearray, size: int) -> list[bytes]:
    """Takes the lines that are not UTF-8 out of the chunk ``buffer[:size]``: returns them, in
    order, and leaves spaces in their place (pyarrow's reader skips a blank line). Whole
    stretches of lines are checked at once, and only a stretch that fails is checked line by
    line: a dump's odd lines are few, and a chunk has tens of thousands of lines."""
    odd: list[bytes] = []
    with memoryview(buffer) as view:
        start = 0
        while start < size:
            newline = buffer.find(b"\n", min(start + STRETCH_BYTES, size) - 1, size)
            end = size if newline < 0 else newline + 1
            if not _is_utf8(view[start:end]):
                while start < end:
                    line_end = buffer.find(b"\n", start, end)
                    line_end = end if line_end < 0 else line_end
                    if not _is_utf8(view[start:line_end]):
                        odd.append(bytes(view[start:line_end]))
                        view[start:line_end] = b" " * (line_end - start)
                    start = line_end + 1
            start = end
    return odd


def _parse_chunk(buffer: bytearray, size: int, where: str) -> pa.Table:
    """The records of the chunk ``buffer[:size]`` as one batch. Its non-UTF-8 lines come
    last, out of file order: the sink takes a batch's read positions as a whole, so a batch
    must never be split (an earlier slice's positions would pass those lines, and they would
    pass for loaded). The chunk is the reader's to overwrite: its odd lines are blanked."""
    odd_lines = _blank_non_utf8(buffer, size)
    with memoryview(buffer) as view:
        table = _parse_block(view[:size], where)
    if not odd_lines:
        return table
    odd = [_parse_non_utf8_line(line, where) for line in odd_lines]
    return pa.concat_tables([table, pa.Table.from_pylist(odd, schema=SOURCE_SCHEMA)])


def _read_chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[tuple[bytearray, int]]:
    """The file in chunks of whole lines: ``chunk_bytes`` and on to the end of that line.
    A chunk is the first ``size`` bytes of a buffer, valid until the next chunk is asked for:
    the file is read into the same memory each time, never into fresh pages (which the kernel
    zeroes and faults in, about as much system time as the parse takes user time)."""
    buffer = bytearray(chunk_bytes + READ_BYTES)
    filled = 0  # the file's next bytes are buffer[:filled]
    at_end = False
    while filled or not at_end:
        newline = buffer.find(b"\n", chunk_bytes - 1, filled)
        if newline < 0 and not at_end:  # read on: up to chunk_bytes, then to a line's end
            wanted = max(chunk_bytes - filled, READ_BYTES)
            if filled + wanted > len(buffer):  # a line longer than the buffer: a bigger one
                buffer = buffer[:filled] + bytes(max(len(buffer), wanted))
            with memoryview(buffer) as view:
                read = handle.readinto(view[filled : filled + wanted])
            filled += read
            at_end = read == 0
            continue
        size = filled if newline < 0 else newline + 1
        yield buffer, size
        with memoryview(buffer) as view:  # the next chunk's first bytes, to the front
            view[: filled - size] = view[size:filled]
        filled -= size


def _read_batches(path: Path, chunk_bytes: int) -> Iterator[tuple[pa.Table, int]]:
    position = 0
    with path.open("rb", buffering=0) as handle:
        for buffer, size in _read_chunks(handle, chunk_bytes):
            position += size
            yield _parse_chunk(buffer, size, f"{path} (before byte {position})"), position


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
