"""Tables: CSV (encoding, separator and decimal mark detected), compressed CSV, a zip holding
one table, JSON lines, Excel and Parquet, on disk or behind a URL."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable
from urllib.parse import urlparse

from ._base import Payload, Source, _bundled, _file_entry, _slug
from ._download import download, file_digest
from ._gpu_table import clean_gpu_table
from ._workspace import DataError

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".zip": "zip"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
SEPARATORS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
SEPARATOR_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
_SAMPLE = 1 << 16  # characters the separator and decimal mark are guessed from
_DETECT = 1 << 20  # bytes the encoding is guessed from
Opener = Callable[[], BinaryIO]
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?(\d{1,3}(\.\d{3})+|\d*),\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*[+-]?(\d{1,3}(,\d{3})+|\d*)\.\d+\s*$")
_THOUSANDS_DOT = re.compile(r"^\s*[+-]?\d{1,3}(\.\d{3})+(,\d+)?\s*$")


def table_format(name: str) -> tuple[str, str | None] | None:
    """``(format, compression)`` from a file name (``x.csv.gz`` -> ``("csv", "gzip")``), else None."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (compression and fmt not in ("csv", "jsonl")):
        return None
    return fmt, compression


def supported_names() -> str:
    return ", ".join(sorted(FORMATS)) + "; CSV and JSON lines also as " + ", ".join(f".csv{c}" for c in COMPRESSIONS)


def _stem(name: str) -> str:
    """The file name without its format and compression suffixes."""
    base = Path(name).name
    for _ in range(2):
        suffix = Path(base).suffix.lower()
        if suffix in FORMATS or suffix in COMPRESSIONS:
            base = base[: -len(suffix)]
    return base or Path(name).name


@dataclass(frozen=True)
class CSVOptions:
    """How to read a CSV; ``None`` means detect it."""

    encoding: str | None = None
    sep: str | None = None
    decimal: str | None = None

    def __post_init__(self):
        if self.sep is not None:
            object.__setattr__(self, "sep", SEPARATOR_NAMES.get(self.sep.lower(), self.sep))
            if len(self.sep) != 1:
                raise DataError(f"separator {self.sep!r}: give one character, or comma, semicolon, tab, pipe")
        if self.decimal is not None and self.decimal not in (".", ","):
            raise DataError(f"decimal mark {self.decimal!r}: expected '.' or ','")
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise DataError(f"encoding {self.encoding!r} is not one Python knows (try utf-8, utf-8-sig, cp1252, latin-1)") from None

    def given(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


def _decompressing(open_raw: Opener, compression: str | None) -> Opener:
    """An opener of the decompressed bytes; errors in the stream surface while reading."""
    if compression is None:
        return open_raw
    if compression == "gzip":
        import gzip

        return lambda: gzip.GzipFile(fileobj=open_raw())
    if compression == "bzip2":
        import bz2

        return lambda: bz2.BZ2File(open_raw())
    if compression == "xz":
        import lzma

        return lambda: lzma.LZMAFile(open_raw())
    # zstandard's streaming reader returns a truncated frame's bytes without a word: decompress
    # whole, frame by frame, and check that each frame ended.
    with open_raw() as f:
        whole = _unzstd(f.read())
    return lambda: io.BytesIO(whole)


def _unzstd(raw: bytes) -> bytes:
    """Every frame of a zstd stream; a frame that stops short is an error."""
    import zstandard

    out = []
    while raw:
        frame = zstandard.ZstdDecompressor().decompressobj()
        try:
            out.append(frame.decompress(raw))
        except zstandard.ZstdError as exc:
            raise EOFError(f"corrupt zstd data ({exc})") from exc
        if not frame.eof:
            raise EOFError("the last zstd frame ends early")
        raw = frame.unused_data
    return b"".join(out)


def _zip_member(path: Path) -> tuple[str, Opener]:
    """The one table inside a zip: its name and an opener of its bytes."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = [i.filename for i in archive.infolist()
                       if not i.is_dir() and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith(".")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip file ({exc})") from exc
    tables = [m for m in members if (table_format(m) or ("zip",))[0] != "zip"]
    if len(tables) != 1:
        what = f"holds {len(tables)} tables ({', '.join(tables)})" if tables else f"holds no table file (it has: {', '.join(members) or 'nothing'})"
        raise DataError(f"{path}: the zip {what}; expected exactly one CSV, JSON lines, Excel or Parquet file")
    # the member keeps the archive's file open until it is closed itself
    return tables[0], lambda: zipfile.ZipFile(path).open(tables[0])


@contextlib.contextmanager
def _stream_errors(label: str, kind: str | None):
    """A stream that ends early or fails its checks becomes a DataError naming the file."""
    import lzma
    import zipfile
    import zlib

    try:
        yield
    except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(f"{label}: the {kind or 'file'} stream is truncated or corrupt ({exc})") from exc
    except OSError as exc:  # gzip's "not a gzipped file", a read error
        raise DataError(f"{label}: the {kind or 'file'} stream is truncated or corrupt ({exc})") from exc


def detect_encoding(raw: bytes) -> str:
    """utf-8 (with or without BOM), utf-16 with a BOM, else cp1252, else latin-1 (which reads any byte).

    ``raw`` may be the start of a file: a character cut at its end does not count against utf-8.
    """
    import codecs

    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(raw, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_separator(sample: str) -> str:
    """The separator among , ; tab | that splits the sample's lines consistently (',' for one column)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:
        return ","


def detect_decimal(sample: str, sep: str) -> tuple[str, str | None]:
    """``(decimal, thousands)``: a decimal comma when numbers such as ``3,5`` outnumber ``3.5``."""
    if sep == ",":
        return ".", None
    cells = [c for row in csv.reader(io.StringIO(sample), delimiter=sep) for c in row[:200]]
    comma = sum(bool(_DECIMAL_COMMA.match(c)) for c in cells)
    point = sum(bool(_DECIMAL_POINT.match(c)) for c in cells)
    if comma > point:
        return ",", "." if any(_THOUSANDS_DOT.match(c) for c in cells) else None
    return ".", None


def _detect_dialect(head: bytes, label: str, options: CSVOptions) -> dict:
    """Encoding, separator and decimal mark from the first bytes, unless given."""
    encoding = options.encoding or detect_encoding(head)
    nul = head.find(b"\x00", 0, _SAMPLE)
    if nul >= 0 and not encoding.startswith("utf-16"):
        raise DataError(f"{label}: not a readable CSV file: binary data (NUL byte at offset {nul})")
    sample = head.decode(encoding, errors="replace")[:_SAMPLE]
    if "\n" in sample[:-1]:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    sep = options.sep or detect_separator(sample)
    decimal, thousands = (options.decimal, None) if options.decimal else detect_decimal(sample, sep)
    return {"encoding": encoding, "sep": sep, "decimal": decimal, "thousands": thousands, "given": sorted(options.given())}


def _parse_csv(opener: Opener, label: str, options: CSVOptions) -> tuple[object, list[str], dict]:
    import pandas as pd

    with opener() as f:
        head = f.read(_DETECT)
    dialect = _detect_dialect(head, label, options)

    def parse(encoding):
        with opener() as f:
            text = io.TextIOWrapper(f, encoding=encoding, newline="")
            return pd.read_csv(text, sep=dialect["sep"], decimal=dialect["decimal"], thousands=dialect["thousands"])

    notes = []
    try:
        try:
            frame = parse(dialect["encoding"])
        except UnicodeDecodeError as exc:
            if options.encoding:
                raise DataError(f"{label}: not a readable CSV file in {options.encoding} ({exc.reason}); try another --encoding") from exc
            # the first megabyte read as utf-8 (or cp1252), a later byte does not: the next guess
            fallback = "cp1252" if dialect["encoding"].startswith("utf-8") else "latin-1"
            notes.append(f"{Path(label).name}: not {dialect['encoding']} past its first {len(head):,} bytes; read as {fallback}")
            dialect["encoding"] = fallback
            frame = parse(fallback)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{label}: no columns to read (empty CSV)") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{label}: not a readable CSV file ({' '.join(str(exc).split())})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: not a readable CSV file in {dialect['encoding']} ({exc.reason}); give --encoding") from exc
    return frame, [_describe_dialect(Path(label).name, dialect), *notes], {"csv": dialect}


def _parse_jsonl(opener: Opener, label: str, options: CSVOptions) -> tuple[object, list[str], dict]:
    import pandas as pd

    records = []
    with opener() as f:
        lines = io.TextIOWrapper(f, encoding="utf-8-sig")
        try:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DataError(f"{label}: line {number}: not valid JSON ({exc})") from exc
                if not isinstance(record, dict):
                    raise DataError(f"{label}: line {number}: expected a JSON object, got {type(record).__name__}")
                records.append(record)
        except UnicodeDecodeError as exc:
            raise DataError(f"{label}: JSON lines must be UTF-8 ({exc.reason} after line {len(records)})") from exc
    return (pd.json_normalize(records) if records else pd.DataFrame()), [], {}


def _parse_xlsx(opener: Opener, label: str, options: CSVOptions) -> tuple[object, list[str], dict]:
    import zipfile

    import pandas as pd

    with opener() as f:
        raw = f.read()
    try:
        book = pd.ExcelFile(io.BytesIO(raw), engine="openpyxl")
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DataError(f"{label}: not a readable Excel .xlsx file ({exc})") from exc
    with book:
        sheets = book.sheet_names
        frame = pd.read_excel(book, sheet_name=sheets[0])
    notes = [f"read sheet {sheets[0]!r}, the first of {len(sheets)}: {', '.join(sheets)}"] if len(sheets) > 1 else []
    return frame, notes, {"sheet": sheets[0]}


def _parse_parquet(opener: Opener, label: str, options: CSVOptions) -> tuple[object, list[str], dict]:
    import pandas as pd
    import pyarrow

    with opener() as f:
        try:
            return pd.read_parquet(f if f.seekable() else io.BytesIO(f.read())), [], {}
        except (pyarrow.ArrowInvalid, OSError) as exc:
            raise DataError(f"{label}: not a readable Parquet file, maybe truncated ({exc})") from exc


_PARSERS = {"csv": _parse_csv, "jsonl": _parse_jsonl, "xlsx": _parse_xlsx, "parquet": _parse_parquet}


def _text_for_mixed(frame) -> list[str]:
    """Columns Parquet cannot store as they are become text: numbers mixed with text, lists of
    mixed things (JSON lines). The notes say which."""
    import pyarrow

    notes = []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(v) for v in frame[column].dropna()}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
            notes.append(f"column {column!r} mixes {', '.join(sorted(k.__name__ for k in kinds))}: stored as text")
            continue
        try:
            pyarrow.array(frame[column], from_pandas=True)
        except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, pyarrow.ArrowNotImplementedError):
            frame[column] = frame[column].map(lambda v: None if v is None else json.dumps(v, default=str))
            notes.append(f"column {column!r} holds values of mixed shapes: stored as JSON text")
    return notes


def _describe_dialect(label: str, d: dict) -> str:
    def part(key, text):
        return text + (" (given)" if key in d["given"] else "")

    thousands = f", thousands {d['thousands']!r}" if d["thousands"] else ""
    return (f"read {label} as {part('encoding', d['encoding'])}, separator {part('sep', SEPARATORS.get(d['sep'], repr(d['sep'])))}, "
            f"decimal {part('decimal', repr(d['decimal']))}{thousands}")


def _unsupported(name: str, where: str) -> DataError:
    return DataError(f"{where}: unsupported file type {''.join(Path(name).suffixes[-2:]) or '(none)'!r}; expected {supported_names()}")


def read_table(path: str | os.PathLike, *, options: CSVOptions = CSVOptions()) -> tuple[object, list[str], dict]:
    """Read a table file by its name: ``(frame, notes for people, details for the manifest)``.

    Files are streamed (a large CSV is never held as text beside its frame), except zstd and
    Excel, which are read whole.
    """
    path = Path(path)
    found = table_format(path.name)
    if found is None:
        raise _unsupported(path.name, str(path))
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    (fmt, compression), label, details = found, str(path), {"format": found[0]}
    with _stream_errors(label, compression):
        opener = _decompressing(lambda: open(path, "rb"), compression)
    if fmt == "zip":
        member, open_member = _zip_member(path)
        (fmt, compression), label = table_format(member), f"{path}:{member}"
        details.update(member=member, format=fmt)
        with _stream_errors(label, "zip"):
            opener = _decompressing(open_member, compression)
    if fmt != "csv" and options.given():
        raise DataError(f"{label}: --encoding, --sep and --decimal apply to CSV files, not {fmt}")
    with _stream_errors(label, compression or ("zip" if "member" in details else None)):
        with opener() as f:
            if not f.read(1):
                raise DataError(f"{label}: the file is empty once decompressed")
        frame, notes, extra = _PARSERS[fmt](opener, label, options)
    details.update(extra)
    if frame.empty:
        raise DataError(f"{label}: the table has columns {list(map(str, frame.columns))} but no rows")
    frame.columns = [str(c) for c in frame.columns]
    notes += _text_for_mixed(frame)
    return frame, notes, details


class TableFile(Source):
    """A table file on disk: CSV (also .gz, .bz2, .xz, .zst), a zip of one table, JSON lines, .xlsx, Parquet."""

    def __init__(self, path: str | os.PathLike, *, options: CSVOptions = CSVOptions()):
        self.path = Path(path)
        found = table_format(self.path.name)
        if found is None:
            raise _unsupported(self.path.name, str(self.path))
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file")
        self.format, self.options = found[0], options
        self.default_name = _slug(_stem(self.path.name))
        self.description = f"{self.format} file {self.path.name}"

    def fingerprint(self) -> str:
        given = self.options.given()
        return "sha256:" + file_digest(self.path) + (f":{json.dumps(given, sort_keys=True)}" if given else "")

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        frame, notes, details = read_table(self.path, options=self.options)
        return Payload("table", frame, files=[_file_entry(self.path)], notes=notes,
                       extra={"source_path": str(self.path.resolve()), "read": details})


class TableURL(Source):
    """A table file behind an http(s) URL; downloaded, then read as a file."""

    def __init__(self, url: str, *, sha256: str | None = None, options: CSVOptions = CSVOptions()):
        self.url = url
        name = Path(urlparse(url).path).name
        found = table_format(name)
        if found is None:
            raise _unsupported(name, url)
        self.filename, self.sha256, self.options = name, sha256, options
        self.default_name = _slug(_stem(name))
        self.description = f"{found[0]} file at {url}"

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        path = download(self.url, workdir / self.filename, sha256=self.sha256, progress=progress)
        payload = TableFile(path, options=self.options).load(workdir=workdir, progress=progress)
        payload.extra = {"source_url": self.url, "read": payload.extra["read"]}
        return payload


class GPUBenchmarks(Source):
    """The bundled GPU benchmarks table (2,317 GPUs, PassMark figures), cleaned."""

    default_name = "gpu-benchmarks"
    description = "GPU benchmarks table (PassMark G3D/G2D marks, prices, TDP)"

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else _bundled("gpu-benchmarks", "GPU_benchmarks_v7.csv")

    def fingerprint(self) -> str:
        return "sha256:" + file_digest(self.path)

    def load(self, *, workdir: Path, progress: bool) -> Payload:
        raw, _, _ = read_table(self.path)
        frame, steps = clean_gpu_table(raw)
        return Payload(
            "table", frame, files=[_file_entry(self.path)],
            notes=[f"{s.step}: {s.choice} ({s.rows} rows)" for s in steps if s.rows],
            extra={"cleaning": [s.as_dict() for s in steps], "raw_rows": len(raw),
                   "provenance": "GPU Benchmarks Compilation (PassMark figures), as published on Kaggle"},
        )
