"""``brainyolo fetch`` against a loopback HTTP server serving local files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
from conftest import YOLOV3_TINY

from brainyolo.cli import main
from brainyolo.data import fetch as fetch_module

pytestmark = pytest.mark.codegen_independent


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "served"``; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fake_model(monkeypatch, folder, contents: dict[str, bytes], pinned: dict[str, bytes]):
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    files = [fetch_module.RemoteFile(name, f"https://example.invalid/{name}",
                                     hashlib.sha256(pinned[name]).hexdigest()) for name in contents]
    monkeypatch.setitem(fetch_module.MODELS, "yolov3-tiny", files)


def test_fetch_checks_sha256_and_writes_atomically(server, tmp_path, monkeypatch, capsys):
    folder, url = server
    files = {"yolov3-tiny.cfg": b"[net]\n", "yolov3-tiny.weights": b"\0" * 5000, "coco.names": b"person\n"}
    _fake_model(monkeypatch, folder, files, files)
    assert main(["fetch", "yolov3-tiny", "--mirror", url, "-o", str(tmp_path / "ok"), "-q"]) == 0
    for name, data in files.items():
        assert (tmp_path / "ok" / name).read_bytes() == data
    assert capsys.readouterr().out.count("verified") == 3

    # one corrupted file: an error naming it, and nothing saved at all
    _fake_model(monkeypatch, folder, {**files, "yolov3-tiny.weights": b"\1" * 5000}, files)
    assert main(["fetch", "yolov3-tiny", "--mirror", url, "-o", str(tmp_path / "bad"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "yolov3-tiny.weights: sha256" in err and "differs" in err and err.count("\n") == 1
    assert list((tmp_path / "bad").iterdir()) == []

    # a missing file (404)
    _fake_model(monkeypatch, folder, files, files)
    (folder / "coco.names").unlink()
    assert main(["fetch", "yolov3-tiny", "--mirror", url, "-o", str(tmp_path / "gone"), "-q"]) == 2
    assert "coco.names: download failed" in capsys.readouterr().err
    assert list((tmp_path / "gone").iterdir()) == []


@pytest.mark.shared
def test_pinned_hashes_match_the_official_yolov3_tiny_files(server, tmp_path):
    folder, url = server
    for path in YOLOV3_TINY.iterdir():
        (folder / path.name).symlink_to(path)
    results = fetch_module.fetch("yolov3-tiny", tmp_path / "model", mirror=url, progress=False)
    assert [r["pinned"] for r in results] == [True, True, True]
    assert (tmp_path / "model" / "yolov3-tiny.weights").stat().st_size == 35434956
