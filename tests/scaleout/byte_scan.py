"""Search every file under a directory for values, byte by byte, as someone holding the disk
would: the raw bytes of each file and, for ClickHouse's column files, their decompressed blocks
too (ClickHouse compresses each column in blocks, so a value on disk need not appear raw)."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import lz4.block
import zstandard

# A ClickHouse compressed block: a 16-byte checksum, then a 9-byte header (method byte,
# compressed size including the header, decompressed size; both little-endian UInt32).
_CHECKSUM_BYTES = 16
_HEADER_BYTES = 9
_NONE, _LZ4, _ZSTD = 0x02, 0x82, 0x90


def files_holding(directory: Path, values: Iterable[str]) -> list[tuple[str, str]]:
    """(file path relative to `directory`, value) for each value found in a file."""
    wanted = [(value, value.encode()) for value in values]
    found = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        readable = [data, *clickhouse_blocks(data)] if path.suffix == ".bin" else [data]
        for value, encoded in wanted:
            if any(encoded in chunk for chunk in readable):
                found.append((str(path.relative_to(directory)), value))
    return found


def clickhouse_blocks(data: bytes) -> Iterator[bytes]:
    """The decompressed blocks of a ClickHouse compressed file; stops at anything else."""
    offset = 0
    while offset + _CHECKSUM_BYTES + _HEADER_BYTES <= len(data):
        header = offset + _CHECKSUM_BYTES
        method = data[header]
        compressed = int.from_bytes(data[header + 1 : header + 5], "little")
        size = int.from_bytes(data[header + 5 : header + 9], "little")
        payload = data[header + _HEADER_BYTES : header + compressed]
        if compressed < _HEADER_BYTES or len(payload) != compressed - _HEADER_BYTES:
            return
        if method == _NONE:
            yield payload
        elif method == _LZ4:
            yield lz4.block.decompress(payload, uncompressed_size=size)
        elif method == _ZSTD:
            yield zstandard.ZstdDecompressor().decompress(payload, max_output_size=size)
        else:
            return
        offset = header + compressed
