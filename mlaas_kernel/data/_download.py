"""Downloads that verify a checksum, resume a partial file and place the result atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

from ._workspace import DataError

CHUNK = 1 << 16


class DownloadError(DataError):
    """Every mirror failed; the message says how each one did."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_once(url: str, part: Path, timeout: float, bar) -> None:
    """Append what is missing of ``url`` to ``part``; raise on a short or failed transfer."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already whole
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignored Range: start again
            have = 0
        total = response.headers.get("Content-Length")
        expected = have + int(total) if total is not None else None
        if bar is not None:
            bar.reset(total=expected)
            bar.update(have)
        with open(part, "ab" if have else "wb") as out:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
    got = part.stat().st_size
    if expected is not None and got < expected:
        raise http.client.IncompleteRead(b"", expected - got)


def download(
    urls: str | Iterable[str],
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 20.0,
    attempts: int = 3,
    progress: bool = True,
) -> Path:
    """Download the first mirror in ``urls`` that works to ``dest``, checking its checksum.

    Bytes arrive in ``dest + ".part"``; an interrupted transfer is resumed from there with an
    HTTP Range request (``attempts`` tries per mirror); the file is moved to ``dest`` only once
    its checksum matches. A file already at ``dest`` with the right checksum is kept as it is.
    """
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    algorithm, want = ("sha256", sha256) if sha256 else ("md5", md5)
    if dest.exists() and (want is None or file_digest(dest, algorithm) == want):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=dest.name, unit="B", unit_scale=True, leave=False, delay=0.5)
    try:
        for url in urls:
            fetched = False
            for attempt in range(attempts):
                try:
                    _fetch_once(url, part, timeout, bar)
                    fetched = True
                    break
                except urllib.error.HTTPError as exc:
                    failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
                    break  # a 404 will not change on retry
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(f"{url}: attempt {attempt + 1}: {type(exc).__name__}: {exc}")
            if not fetched or not part.exists():
                continue
            if want is not None:
                got = file_digest(part, algorithm)
                if got != want:
                    part.unlink()
                    failures.append(f"{url}: {algorithm} mismatch (expected {want}, got {got}): truncated or corrupted")
                    continue
            os.replace(part, dest)
            return dest
    finally:
        if bar is not None:
            bar.close()
    raise DownloadError(f"could not download {dest.name}:\n  " + "\n  ".join(failures or ["no mirror given"]))
