"""Tables: CSV (encoding, separator and decimal mark detected), compressed CSV, a zip holding
one table, JSON lines, Excel and Parquet, on disk or behind a URL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ._base import Payload, Source, _bundled, _file_entry, _slug
from ._download import download, file_digest
from ._gpu_table import clean_gpu_table
from ._workspace import DataError

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".zip": "zip"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
SEPARATORS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
SEPARATOR_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
_SAMPLE = 1 << 16
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


def _decompress(raw: bytes, compression: str | None, path: Path) -> bytes:
    if compression is None:
        return raw
    try:
        if compression == "gzip":
            import gzip

            return gzip.decompress(raw)
        if compression == "bzip2":
            import bz2

            return bz2.decompress(raw)
        if compression == "xz":
            import lzma

            return lzma.decompress(raw)
        return _unzstd(raw)
    except Exception as exc:  # each library has its own error class for a bad stream
        raise DataError(f"{path}: the {compression} stream is truncated or corrupt ({exc})") from exc


def _unzstd(raw: bytes) -> bytes:
    """Every frame of a zstd stream; a frame that stops short is an error (the library returns what it has)."""
    import zstandard

    out = []
    while raw:
        frame = zstandard.ZstdDecompressor().decompressobj()
        out.append(frame.decompress(raw))
        if not frame.eof:
            raise EOFError("the last frame ends early")
        raw = frame.unused_data
    return b"".join(out)


def _from_zip(raw: bytes, path: Path) -> tuple[str, bytes]:
    """The one table inside a zip: its name and bytes."""
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a readable zip file ({exc})") from exc
    with archive:
        members = [i.filename for i in archive.infolist()
                   if not i.is_dir() and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith(".")]
        tables = [m for m in members if (table_format(m) or ("zip",))[0] != "zip"]
        if len(tables) != 1:
            what = f"holds {len(tables)} tables ({', '.join(tables)})" if tables else f"holds no table file (it has: {', '.join(members) or 'nothing'})"
            raise DataError(f"{path}: the zip {what}; expected exactly one CSV, JSON lines, Excel or Parquet file")
        try:
            return tables[0], archive.read(tables[0])
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{path}: {tables[0]} inside the zip is corrupt ({exc})") from exc


def detect_encoding(raw: bytes) -> str:
    """utf-8 (with or without BOM), utf-16 with a BOM, else cp1252, else latin-1 (which reads any byte)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            raw.decode(encoding)
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


def _read_csv(raw: bytes, label: str, options: CSVOptions) -> tuple[object, dict]:
    import pandas as pd

    encoding = options.encoding or detect_encoding(raw)
    nul = raw.find(b"\x00", 0, _SAMPLE)
    if nul >= 0 and not encoding.startswith("utf-16"):
        raise DataError(f"{label}: not a readable CSV file: binary data (NUL byte at offset {nul})")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: not a readable CSV file in {encoding} (byte {exc.start}: {exc.reason}); try another --encoding") from exc
    sample = text[:_SAMPLE]
    if len(text) > _SAMPLE and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    sep = options.sep or detect_separator(sample)
    if options.decimal:
        decimal, thousands = options.decimal, None
    else:
        decimal, thousands = detect_decimal(sample, sep)
    dialect = {"encoding": encoding, "sep": sep, "decimal": decimal, "thousands": thousands, "given": sorted(options.given())}
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, thousands=thousands)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{label}: no columns to read (empty CSV)") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{label}: not a readable CSV file ({' '.join(str(exc).split())})") from exc
    return frame, dialect


def _read_jsonl(raw: bytes, label: str):
    import pandas as pd

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: JSON lines must be UTF-8 (byte {exc.start}: {exc.reason})") from exc
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{label}: line {number}: not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{label}: line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return pd.json_normalize(records) if records else pd.DataFrame()


def _read_xlsx(raw: bytes, label: str) -> tuple[object, list[str]]:
    import zipfile

    import pandas as pd

    try:
        book = pd.ExcelFile(io.BytesIO(raw), engine="openpyxl")
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DataError(f"{label}: not a readable Excel .xlsx file ({exc})") from exc
    with book:
        sheets = book.sheet_names
        frame = pd.read_excel(book, sheet_name=sheets[0])
    notes = [f"read sheet {sheets[0]!r}, the first of {len(sheets)}: {', '.join(sheets)}"] if len(sheets) > 1 else []
    return frame, notes


def _read_parquet(raw: bytes, label: str):
    import pandas as pd
    import pyarrow

    try:
        return pd.read_parquet(io.BytesIO(raw))
    except (pyarrow.ArrowInvalid, OSError) as exc:
        raise DataError(f"{label}: not a readable Parquet file, maybe truncated ({exc})") from exc


def _text_for_mixed(frame) -> list[str]:
    """Columns that hold both numbers and text become text, so Parquet can store them."""
    notes = []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(v) for v in frame[column].dropna()}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
            notes.append(f"column {column!r} mixes {', '.join(sorted(k.__name__ for k in kinds))}: stored as text")
    return notes


def _describe_dialect(label: str, d: dict) -> str:
    def part(key, text):
        return text + (" (given)" if key in d["given"] else "")

    thousands = f", thousands {d['thousands']!r}" if d["thousands"] else ""
    return (f"read {label} as {part('encoding', d['encoding'])}, separator {part('sep', SEPARATORS.get(d['sep'], repr(d['sep'])))}, "
            f"decimal {part('decimal', repr(d['decimal']))}{thousands}")


def read_table(path: str | os.PathLike, *, options: CSVOptions = CSVOptions()) -> tuple[object, list[str], dict]:
    """Read a table file by its name: ``(frame, notes for people, details for the manifest)``."""
    path = Path(path)
    found = table_format(path.name)
    if found is None:
        raise DataError(f"{path}: unsupported file type {''.join(path.suffixes[-2:]) or '(none)'!r}; expected {supported_names()}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt, compression = found
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"{path}: the file is empty")
    raw = _decompress(raw, compression, path)
    label, details, notes = str(path), {"format": fmt}, []
    if fmt == "zip":
        member, raw = _from_zip(raw, path)
        label, fmt = f"{path}:{member}", table_format(member)[0]
        raw = _decompress(raw, table_format(member)[1], Path(label))
        details.update(member=member, format=fmt)
    if not raw:
        raise DataError(f"{label}: the file is empty" + (" once decompressed" if compression else ""))
    if fmt != "csv" and options.given():
        raise DataError(f"{label}: --encoding, --sep and --decimal apply to CSV files, not {fmt}")
    if fmt == "csv":
        frame, dialect = _read_csv(raw, label, options)
        details["csv"] = dialect
        notes.append(_describe_dialect(Path(label).name, dialect))
    elif fmt == "jsonl":
        frame = _read_jsonl(raw, label)
    elif fmt == "xlsx":
        frame, notes = _read_xlsx(raw, label)
    else:
        frame = _read_parquet(raw, label)
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
            raise DataError(f"{self.path}: unsupported file type {''.join(self.path.suffixes[-2:]) or '(none)'!r}; expected {supported_names()}")
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
            raise DataError(f"{url}: unsupported file type {''.join(Path(name).suffixes[-2:]) or '(none)'!r}; expected {supported_names()}")
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
