"""Downloads through a local HTTP server on 127.0.0.1: full, resumed, interrupted, corrupted, refused."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from vpbench.data.base import DataFile
from vpbench.data.download import download, fetch_files, verify_file
from vpbench.errors import VpbenchError

PAYLOAD = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """/ranged honours Range, /plain ignores it, /corrupt serves other bytes, /flaky drops its first
    answer half-way. Every request is logged on the server as (path, Range header, bytes sent)."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        requested = self.headers.get("Range")
        body, status, first = (PAYLOAD[::-1] if self.path == "/corrupt" else PAYLOAD), 200, 0
        if requested and self.path in ("/ranged", "/flaky"):
            first = int(requested.removeprefix("bytes=").rstrip("-"))
            if first >= len(body):
                self.server.log.append((self.path, requested, 0))  # logged before answering: no race
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            status = 206
        sent = body[first:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(sent)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if self.path == "/flaky" and not any(entry[0] == "/flaky" for entry in self.server.log):
            sent = sent[: len(sent) // 2]  # the first answer breaks off half-way
            self.close_connection = True
        self.server.log.append((self.path, requested, len(sent)))  # before the body, so the client sees it
        self.wfile.write(sent)

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """A proxy setting would send even 127.0.0.1 requests off the machine; these tests stay on loopback."""
    for variable in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.log = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_full_download_is_verified_and_renamed_into_place(server, tmp_path):
    _, base = server
    target = download(f"{base}/ranged", tmp_path / "sub" / "data.bin", sha256=SHA256, timeout=5)
    assert target.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert verify_file(target, sha256=SHA256)


def test_md5_is_accepted_when_no_sha256_is_published(server, tmp_path):
    _, base = server
    target = download(f"{base}/ranged", tmp_path / "data.bin", md5=MD5, timeout=5)
    assert target.read_bytes() == PAYLOAD


def test_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    httpd, base = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:100_000])
    target = download(f"{base}/ranged", tmp_path / "data.bin", sha256=SHA256, timeout=5)
    assert target.read_bytes() == PAYLOAD
    assert httpd.log == [("/ranged", "bytes=100000-", 200_000)]  # only the rest was sent


def test_interrupted_transfer_keeps_the_partial_file_and_the_next_call_resumes(server, tmp_path):
    httpd, base = server
    destination = tmp_path / "data.bin"
    with pytest.raises(VpbenchError, match="partial file is kept") as error:
        download(f"{base}/flaky", destination, sha256=SHA256, timeout=5)
    assert str(destination) in str(error.value) and "\n" not in str(error.value)
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert 0 < kept < len(PAYLOAD) and not destination.exists()
    download(f"{base}/flaky", destination, sha256=SHA256, timeout=5)
    assert destination.read_bytes() == PAYLOAD
    assert httpd.log[-1] == ("/flaky", f"bytes={kept}-", len(PAYLOAD) - kept)


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    httpd, base = server
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes that must not stay in front")
    target = download(f"{base}/plain", tmp_path / "data.bin", sha256=SHA256, timeout=5)
    assert target.read_bytes() == PAYLOAD
    assert httpd.log[0][1] is not None and httpd.log[0][2] == len(PAYLOAD)  # asked to resume, got it all


def test_complete_partial_file_answered_416_is_verified_and_kept(server, tmp_path):
    _, base = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    target = download(f"{base}/ranged", tmp_path / "data.bin", sha256=SHA256, timeout=5)
    assert target.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_partial_keeps_good_files_and_names_the_file(server, tmp_path):
    _, base = server
    files = [
        DataFile("ds/good.bin", "good", f"{base}/ranged", sha256=SHA256),
        DataFile("ds/bad.bin", "bad", f"{base}/corrupt", sha256=SHA256),
    ]
    with pytest.raises(VpbenchError) as error:
        fetch_files(files, tmp_path, timeout=5)
    message = str(error.value)
    assert "checksum mismatch for bad.bin" in message and str(tmp_path / "ds" / "bad.bin") in message
    assert "\n" not in message
    assert (tmp_path / "ds" / "good.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "ds" / "bad.bin").exists() and not (tmp_path / "ds" / "bad.bin.part").exists()


def test_fetch_skips_verified_files_and_replaces_corrupt_ones(server, tmp_path):
    httpd, base = server
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "present.bin").write_bytes(PAYLOAD)
    (tmp_path / "ds" / "damaged.bin").write_bytes(PAYLOAD[:10])
    files = [
        DataFile("ds/present.bin", "present", f"{base}/ranged", sha256=SHA256),
        DataFile("ds/damaged.bin", "damaged", f"{base}/ranged", md5=MD5),
        DataFile("ds/by-hand.bin", "no url"),
    ]
    rows = fetch_files(files, tmp_path, timeout=5)
    assert [row["status"] for row in rows] == ["present", "downloaded", "manual"]
    assert [row["checksum"] for row in rows] == ["sha256", "md5", None]
    assert len(httpd.log) == 1  # the verified file was not downloaded again
    assert (tmp_path / "ds" / "damaged.bin").read_bytes() == PAYLOAD


def test_unreachable_server_says_which_file_to_put_where(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mnist_test_seq.npy"
    destination = tmp_path / "mmnist" / "mnist_test_seq.npy"
    with pytest.raises(VpbenchError) as error:
        download(url, destination, sha256=SHA256, timeout=2)
    message = str(error.value)
    assert url in message and str(destination) in message and "\n" not in message
    assert not destination.exists()
