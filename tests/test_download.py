"""Downloads against a real HTTP server on loopback: resume, mirrors, faults."""

import hashlib
import os

import pytest

from mlaas_kernel.data import DownloadError, download

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


def test_downloads_and_verifies(file_server, tmp_path):
    file_server.files["/f.bin"] = BODY
    out = download(file_server.url + "/f.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert out.read_bytes() == BODY and not (tmp_path / "f.bin.part").exists()
    # a second call keeps the verified file and asks nothing of the server
    n = len(file_server.requests)
    download(file_server.url + "/f.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert len(file_server.requests) == n


def test_resumes_a_partial_file_with_a_range_request(file_server, tmp_path):
    file_server.files["/f.bin"] = BODY
    (tmp_path / "f.bin.part").write_bytes(BODY[:100_000])
    download(file_server.url + "/f.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert file_server.requests == [("/f.bin", "bytes=100000-")]


def test_server_dying_mid_download_is_resumed(file_server, tmp_path):
    file_server.files["/f.bin"] = BODY
    file_server.die_after["/f.bin"] = (70_000, 2)  # two broken responses, then a good one
    download(file_server.url + "/f.bin", tmp_path / "f.bin", md5=hashlib.md5(BODY).hexdigest(), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    ranges = [r for _, r in file_server.requests]
    assert ranges[0] is None and ranges[1] == "bytes=70000-" and ranges[2] == "bytes=140000-"


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_bad_content_is_refused_and_nothing_is_placed(file_server, tmp_path, damage):
    bad = BODY[:-1000] if damage == "truncated" else BODY[:5000] + b"\xff" * 10 + BODY[5010:]
    file_server.files["/f.bin"] = bad
    with pytest.raises(DownloadError, match=r"f.bin: sha256 mismatch \(expected " + SHA[:8]):
        download(file_server.url + "/f.bin", tmp_path / "f.bin", sha256=SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_falls_through_mirrors_and_reports_each(file_server, tmp_path):
    file_server.files["/good/f.bin"] = BODY
    file_server.files["/bad/f.bin"] = BODY[:10]
    closed = f"http://127.0.0.1:{_closed_port()}/f.bin"
    out = download([closed, file_server.url + "/missing/f.bin", file_server.url + "/bad/f.bin", file_server.url + "/good/f.bin"],
                   tmp_path / "f.bin", sha256=SHA, progress=False, attempts=1)
    assert out.read_bytes() == BODY
    with pytest.raises(DownloadError) as err:
        download([closed, file_server.url + "/missing/f.bin"], tmp_path / "g.bin", sha256=SHA, progress=False, attempts=1)
    text = str(err.value)
    assert "could not download g.bin" in text and "Connection refused" in text and "HTTP 404" in text


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
