"""`driftwise ui`'s server: pages under the artifact folder over HTTP, nothing else."""

from __future__ import annotations

import gzip
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring_lib.pages.server import pages_server, resolve_page
from monitoring_lib.pages.urls import page_url


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    reports = root / "credit-default-1234abcd" / "reports"
    (reports / "_evidently").mkdir(parents=True)
    (reports / "2024-03-01.html").write_text("<html>report</html>" + "x" * 5_000)
    (reports / "timeseries.html").write_text("<html>history</html>")
    (reports / "_evidently" / "evidently-0.7.23.js").write_text("var bundle = 1;")
    profiles = root / "credit-default-1234abcd" / "profiles"
    profiles.mkdir()
    (profiles / "2024-03-01.bin").write_bytes(b"profile")
    (tmp_path / "secret.html").write_text("outside")
    (reports / "link.html").symlink_to(tmp_path / "secret.html")
    return root


@pytest.fixture
def server(artifacts: Path) -> Iterator[tuple[str, int]]:
    httpd = pages_server(artifacts, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(httpd.server_address[0]), int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


def _get(server: tuple[str, int], path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*server, timeout=30)
    connection.request("GET", path, headers=headers)
    return connection.getresponse()


def test_pages_and_the_index_are_served(server: tuple[str, int]) -> None:
    report = _get(server, "/credit-default-1234abcd/reports/2024-03-01.html")
    assert report.status == 200
    assert report.getheader("Content-Type") == "text/html; charset=utf-8"
    assert report.read().startswith(b"<html>report")
    index = _get(server, "/").read().decode()
    assert 'href="credit-default-1234abcd/reports/timeseries.html"' in index
    assert 'href="credit-default-1234abcd/reports/2024-03-01.html"' in index
    bundle = _get(server, "/credit-default-1234abcd/reports/_evidently/evidently-0.7.23.js")
    assert bundle.read() == b"var bundle = 1;"


def test_compressed_when_the_browser_accepts_it(server: tuple[str, int]) -> None:
    response = _get(
        server, "/credit-default-1234abcd/reports/2024-03-01.html", **{"Accept-Encoding": "gzip"}
    )
    assert response.getheader("Content-Encoding") == "gzip"
    body = response.read()
    assert len(body) < 1_000
    assert gzip.decompress(body).startswith(b"<html>report")


@pytest.mark.parametrize(
    "path",
    [
        "/credit-default-1234abcd/profiles/2024-03-01.bin",
        "/credit-default-1234abcd/reports/../profiles/2024-03-01.bin",
        "/credit-default-1234abcd/reports/%2e%2e/profiles/2024-03-01.bin",
        "/credit-default-1234abcd/reports/..%2f..%2fsecret.html",
        "/credit-default-1234abcd/reports/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.html",
        "/../secret.html",
        "/credit-default-1234abcd/reports/link.html",
        "/credit-default-1234abcd/reports/..\\..\\secret.html",
        "/credit-default-1234abcd/reports/",
        "/credit-default-1234abcd/",
    ],
)
def test_nothing_but_pages_is_served(server: tuple[str, int], path: str) -> None:
    response = _get(server, path)
    assert response.status == 404
    assert b"outside" not in response.read()


def test_resolve_page_refuses_what_is_not_a_page(artifacts: Path) -> None:
    assert resolve_page(artifacts, "/credit-default-1234abcd/reports/2024-03-01.html")
    assert resolve_page(artifacts, "/credit-default-1234abcd/reports/link.html") is None
    assert resolve_page(artifacts, "/x/reports/%00.html") is None


def test_links_point_under_the_base_url(artifacts: Path) -> None:
    report = artifacts / "credit-default-1234abcd" / "reports" / "2024-03-01.html"
    assert (
        page_url(report, artifacts, "https://reports.example.com/driftwise/")
        == "https://reports.example.com/driftwise/credit-default-1234abcd/reports/2024-03-01.html"
    )
    outside = artifacts.parent / "secret.html"
    assert page_url(outside, artifacts, "http://127.0.0.1:8765").startswith("file://")


def test_driftwise_ui_serves_the_artifact_folder_until_interrupted(
    artifacts: Path, tmp_path: Path
) -> None:
    """The command itself, as a process: it prints its address, serves, and stops on Ctrl-C."""
    env = {**os.environ, "DRIFTWISE_ARTIFACT_DIR": str(artifacts), "DRIFTWISE_HOME": str(tmp_path)}
    command = [sys.executable, "-c", "from driftwise.cli import app; app()", "ui", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server is bound
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        response = _get(
            ("127.0.0.1", int(found.group(1))), "/credit-default-1234abcd/reports/timeseries.html"
        )
        assert response.read() == b"<html>history</html>"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
