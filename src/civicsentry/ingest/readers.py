"""Reading source files defensively: compression by magic bytes, bounded line length,
strict encodings, and positions for every record, so that a bad record becomes a
``Bad`` with where and why, and a bad file a one-line ``BadInputFile``."""

from __future__ import annotations

import bz2
import csv
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import zstandard

from ..errors import BadInputFile
from .base import Bad, Sample, truncate

MAX_RECORD_BYTES = 32 * 1024 * 1024  # one line / CSV field; longer ones are quarantined
HEAD_BYTES = 64 * 1024
COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}
# What a compressed stream raises when it is cut short or corrupt.
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    zstandard.ZstdError,
    OSError,
    lzma.LZMAError,
)


def compression_of(path: Path) -> str | None:
    with open(path, "rb") as f:
        magic = f.read(6)
    for prefix, kind in _MAGIC.items():
        if magic.startswith(prefix):
            return kind
    return None


class _Decompressing(io.RawIOBase):
    """A decompressed view of a file that hands out every byte it could decompress
    before reporting a truncated or corrupt stream (the standard library's readers drop
    the last partial block). Concatenated members/frames are read one after another."""

    def __init__(self, path: Path, make: Callable[[], Any]) -> None:
        self._file = open(path, "rb")  # noqa: SIM115
        self._make = make
        self._dec = make()
        self._out = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._out and not self._done:
            self._fill()
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _fill(self) -> None:
        data = self._dec.unused_data if self._dec.eof else b""
        if self._dec.eof:
            if not data:
                data = self._file.read(1 << 16)
                if not data:
                    self._done = True
                    return
            self._dec = self._make()
        if not data:
            data = self._file.read(1 << 16)
            if not data:
                self._done = True
                raise EOFError("compressed stream ended early")
        self._out = self._dec.decompress(data)

    def close(self) -> None:
        self._file.close()
        super().close()


_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(wbits=31),
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    "bz2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed whatever the suffix says (by magic bytes)."""
    try:
        kind = compression_of(path)
    except OSError as e:
        raise BadInputFile(f"Cannot read {path}: {e.strerror or e}") from e
    if kind is None:
        return open(path, "rb", buffering=1 << 20)  # long lines: fewer, larger reads
    return io.BufferedReader(_Decompressing(path, _DECOMPRESSORS[kind]), buffer_size=1 << 20)


def plain_name(path: Path) -> str:
    name = path.name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    try:
        with open_binary(path) as f:
            return f.read(size)
    except STREAM_ERRORS as e:
        raise BadInputFile(f"{path}: cannot decompress the start of the file ({e}).") from e


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def sample(path: Path) -> Sample:
    """What format detection needs: name, head bytes and, for tables, the header."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        try:
            names = tuple(pq.ParquetFile(path).schema_arrow.names)
        except Exception as e:  # pyarrow raises several unrelated types for a bad footer
            raise BadInputFile(f"{path}: not a readable Parquet file ({e}).") from e
        return Sample(path, plain_name(path), b"", names)
    head = read_head(path)
    return Sample(path, plain_name(path), head, _csv_header(head, plain_name(path)))


def _csv_header(head: bytes, name: str) -> tuple[str, ...] | None:
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if not text or text[0] in "{[":
        return None
    first = text.splitlines()[0] if text.splitlines() else ""
    delim = sniff_delimiter(first, name)
    try:
        row = next(csv.reader([first], delimiter=delim))
    except (csv.Error, StopIteration):
        return None
    return tuple(c.strip() for c in row) if len(row) > 1 else None


def sniff_delimiter(header_line: str, name: str = "") -> str:
    if name.endswith((".tsv", ".tab")):
        return "\t"
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# -- line-oriented formats ----------------------------------------------------------
def iter_lines(path: Path, max_bytes: int | None = None) -> Iterator[tuple[int, bytes] | Bad]:
    """(line number, line without newline) for every non-blank line, or a ``Bad`` for a
    line longer than ``max_bytes`` (skipped without holding it in memory) and for a
    compressed stream that ends early (what came before is kept)."""
    max_bytes = max_bytes or MAX_RECORD_BYTES
    lineno = 0
    with open_binary(path) as f:
        reader = f
        while True:
            try:
                line = reader.readline(max_bytes + 1)
            except STREAM_ERRORS as e:
                yield Bad(lineno + 1, f"file is truncated or corrupt after line {lineno} ({e})")
                return
            if not line:
                return
            lineno += 1
            if len(line) > max_bytes and not line.endswith(b"\n"):
                head = line[:2000]
                try:
                    while True:  # skip the rest of the huge line
                        rest = reader.readline(1 << 20)
                        if not rest or rest.endswith(b"\n"):
                            break
                except STREAM_ERRORS as e:
                    yield Bad(lineno, f"file is truncated or corrupt after line {lineno - 1} ({e})")
                    return
                yield Bad(lineno, f"line longer than {_size(max_bytes)}", truncate(head))
                continue
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield lineno, line


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def parse_json(line: bytes, encoding: str = "utf-8") -> Any:
    """One JSON value; raises ValueError with a short reason."""
    try:
        if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
            return orjson.loads(line)
        return orjson.loads(line.decode(encoding))
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "utf-8" in msg.lower() or "surrogate" in msg.lower():
            raise ValueError(
                f"not valid UTF-8 ({msg}); if the file has another encoding, pass --encoding"
            ) from e
        if "recursion" in msg.lower() or "depth limit" in msg.lower():
            raise ValueError("JSON nested too deeply") from e
        raise ValueError(f"invalid JSON: {msg}") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"cannot decode as {encoding}: {e}") from e


def iter_json_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, Any] | Bad]:
    """(line number, parsed value) per JSON-Lines record, or ``Bad``."""
    for item in iter_lines(path):
        if isinstance(item, Bad):
            yield item
            continue
        lineno, line = item
        try:
            yield lineno, parse_json(line, encoding)
        except ValueError as e:
            yield Bad(lineno, str(e), truncate(line))


def first_json_value(head: bytes) -> Any:
    for line in head.splitlines():
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
    return None


def load_json_document(path: Path, encoding: str = "utf-8", max_bytes: int = 4 << 30) -> Any:
    """A whole-file JSON document (e.g. Telegram's result.json)."""
    try:
        with open_binary(path) as f:
            data = f.read(max_bytes + 1)
    except STREAM_ERRORS as e:
        raise BadInputFile(f"{path}: file is truncated or corrupt ({e}).") from e
    if len(data) > max_bytes:
        raise BadInputFile(f"{path}: JSON document larger than {max_bytes >> 30} GiB.")
    try:
        return parse_json(data, encoding)
    except ValueError as e:
        raise BadInputFile(f"{path}: {e}.") from e


# -- delimited text ---------------------------------------------------------------------
class CsvRows:
    """The header and then (line number, row dict | Bad) per record of a CSV/TSV file.

    Rows with the wrong number of fields, undecodable bytes or oversized fields become
    ``Bad``; a compressed stream that ends early ends the iteration with a ``Bad``."""

    def __init__(
        self, path: Path, *, delimiter: str | None = None, encoding: str = "utf-8"
    ) -> None:
        self.path = path
        self.encoding = "utf-8-sig" if encoding.lower().replace("-", "") == "utf8" else encoding
        head = read_head(path, 8192).decode(self.encoding, errors="replace")
        first = head.splitlines()[0] if head else ""
        self.delimiter = delimiter or sniff_delimiter(first, plain_name(path))
        csv.field_size_limit(MAX_RECORD_BYTES)  # a longer field is a csv.Error → Bad
        self.header: list[str] = []

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]] | Bad]:
        with open_binary(self.path) as raw:
            text = io.TextIOWrapper(
                raw, encoding=self.encoding, errors="surrogateescape", newline=""
            )  # type: ignore[arg-type]
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                self.header = [h.strip() for h in next(reader)]
            except StopIteration:
                return
            except STREAM_ERRORS as e:
                raise BadInputFile(f"{self.path}: cannot read the header ({e}).") from e
            except csv.Error as e:
                raise BadInputFile(f"{self.path}: cannot parse the header ({e}).") from e
            n = len(self.header)
            while True:
                start = reader.line_num + 1  # a quoted field may span lines: cite the first
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except STREAM_ERRORS as e:
                    yield Bad(
                        reader.line_num + 1,
                        f"file is truncated or corrupt after line {reader.line_num} ({e})",
                    )
                    return
                except csv.Error as e:
                    yield Bad(reader.line_num, f"malformed CSV: {e}")
                    continue
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                line = start
                joined = self.delimiter.join(row)
                if any("\udc80" <= ch <= "\udcff" for ch in joined):
                    yield Bad(
                        line,
                        f"not valid {self.encoding}; pass --encoding if the file uses another",
                        truncate(joined.encode("utf-8", "surrogateescape")),
                    )
                    continue
                if len(row) != n:
                    yield Bad(line, f"expected {n} fields, found {len(row)}", truncate(joined))
                    continue
                yield line, dict(zip(self.header, row, strict=True))


# -- vectorised CSV ------------------------------------------------------------------------
_ARROW_COMPRESSION = {None: None, "gzip": "gzip", "zstd": "zstd", "bz2": "bz2"}
CSV_BLOCK_BYTES = 8 << 20  # what Arrow parses at a time (and checks, then hands out)


class NotClean(Exception):
    """Raised by the iterator of ``csv_arrow_batches`` when a block shows that the file is
    not clean after all: what it handed out so far must be discarded and the file read
    row by row (``Options.vectorised=False``). Not an ``InputError``: the file is fine,
    only the fast path does not apply."""


def csv_arrow_batches(
    path: Path, *, delimiter: str = ",", encoding: str = "utf-8"
) -> Iterator[tuple[int, pa.Table]] | None:
    """(line of the first record, table of string columns) per block of a *clean* CSV
    file, read by Arrow's multi-threaded parser; None when the file cannot be clean (its
    encoding, compression or header), and the caller reads it row by row with
    ``CsvRows``, which quarantines what is wrong record by record.

    Clean means: UTF-8; an uncompressed, gzip, zstd or bz2 stream that ends properly; at
    least two columns; every record on one line with the header's number of fields; no
    blank line and no record whose fields are all empty. Then record i is on line i + 2,
    so positions are exact. Each block is checked before it is handed out, and the
    iterator raises ``NotClean`` at the first block that is not (or when the stream
    ends badly): the caller then discards every block it was given and reads the file
    row by row. A clean file is thus parsed once (a separate checking pass cost a
    quarter of the toolkit CSV's ingest), an unclean one by Arrow up to its first flaw
    and then by ``CsvRows``."""
    if encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig"):
        return None
    try:
        kind = compression_of(path)
    except OSError:
        return None
    if kind not in _ARROW_COMPRESSION:
        return None
    refused: list[str] = []

    def refuse(row: Any) -> str:  # Arrow ignores exceptions raised here: flag and skip
        refused.append(row.text or "")
        return "skip"

    def reader(names: list[str] | None, block_size: int) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            pa.input_stream(str(path), compression=_ARROW_COMPRESSION[kind]),
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=refuse,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names or (), pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        # The header, from a small first block (a whole block is parsed and its types
        # inferred just to name the columns); a longer first record: the row path.
        names = reader(None, min(CSV_BLOCK_BYTES, 1 << 20)).schema.names
    except (pa.ArrowException, OSError, ValueError):
        return None
    if len(names) < 2 or len(set(names)) < len(names):
        return None

    def batches() -> Iterator[tuple[int, pa.Table]]:
        line = 2
        stripped = [n.strip() for n in names]
        try:
            for rb in reader(names, CSV_BLOCK_BYTES):
                # Arrow may parse ahead: a flaw it flagged in a later block also stops
                # here, which only sends a clean prefix to the row path as well.
                if refused or not _one_line_records(rb):
                    raise NotClean(f"{path}: not a clean CSV (a flaw at or after line {line})")
                yield line, pa.Table.from_batches([rb]).rename_columns(stripped)
                line += rb.num_rows
        except (pa.ArrowException, OSError, ValueError) as e:
            raise NotClean(f"{path}: {e}") from e
        if refused:
            raise NotClean(f"{path}: not a clean CSV")

    return batches()


def _one_line_records(rb: pa.RecordBatch) -> bool:
    """No field holds a line break and no record is empty (a blank line parses as one)."""
    empty: np.ndarray | None = None
    for col in rb.columns:
        if col.type != pa.string() or col.null_count:
            return _one_line_records_arrow(rb)
        # The bytes of the column's values and their lengths, straight from its buffers:
        # a byte scan is many times faster than a regex per value.
        _, offsets, data = col.buffers()
        ends = np.frombuffer(offsets, np.int32, len(col) + 1, col.offset * 4)
        if data is not None and ends[-1] > ends[0]:
            # A copy and two memchr scans: faster than comparing every byte in numpy.
            chars = data.slice(int(ends[0]), int(ends[-1] - ends[0])).to_pybytes()
            if b"\n" in chars or b"\r" in chars:
                return False
        blank = np.diff(ends) == 0
        empty = blank if empty is None else empty & blank
    return empty is None or not empty.any()


def _one_line_records_arrow(rb: pa.RecordBatch) -> bool:
    empty: pa.Array | None = None
    for col in rb.columns:
        if pc.any(pc.match_substring_regex(col, "[\\r\\n]")).as_py():
            return False
        blank = pc.equal(pc.binary_length(col), 0)
        empty = blank if empty is None else pc.and_(empty, blank)
    return empty is None or not pc.any(empty).as_py()
