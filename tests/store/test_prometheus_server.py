"""driftwise's metrics in a real Prometheus server and Pushgateway (Debian's `prometheus` and
`prometheus-pushgateway` packages), on loopback: Prometheus scrapes `/metrics` and the gateway
a run pushed to, and PromQL returns the stored values. The example rules pass promtool.

Without the binaries these tests skip with the reason, except under CI=true, where that is a
failure (`.ci/install-observability` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.observability.prometheus import push_model_metrics, start_metrics_server
from tests.unit.test_prom import store_window

RULES_DIR = Path(__file__).resolve().parents[2] / "deployments" / "prometheus"
PUSHGATEWAY_NAMES = ("prometheus-pushgateway", "pushgateway")
DEADLINE_SECONDS = 40.0


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    reason = f"{' or '.join(names)} not found (install Debian's prometheus packages)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}")
        try:
            _get(url)
        except OSError:
            time.sleep(0.2)
        else:
            return
    raise AssertionError(f"{url} not ready after {DEADLINE_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [_binary(*PUSHGATEWAY_NAMES), f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "pushgateway.log").open("wb"),
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/-/ready", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _prometheus(tmp_path: Path, targets: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    jobs = [
        {
            "job_name": job,
            "honor_labels": True,
            "scrape_interval": "1s",
            "static_configs": [{"targets": [target]}],
        }
        for job, target in targets.items()
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    port = _free_port()
    process = subprocess.Popen(
        [
            _binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    return f"http://127.0.0.1:{port}", process


def _query_until(base: str, promql: str, count: int) -> list[dict[str, object]]:
    """The query's vector once it has ``count`` series (Prometheus needs a scrape or two)."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    result: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        result = json.loads(_get(url))["data"]["result"]
        if len(result) >= count:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{promql}: {len(result)} series after {DEADLINE_SECONDS} s: {result}")


def _by_job_and_model(result: list[dict[str, object]]) -> dict[tuple[str, str], float]:
    values = {}
    for item in result:
        labels = item["metric"]
        assert isinstance(labels, dict)
        value = item["value"]
        assert isinstance(value, list)
        values[(labels["job"], labels["model"])] = float(value[1])
    return values


@pytest.mark.postgres
def test_prometheus_reads_the_exporter_and_the_pushed_values(
    pg_sessions: sessionmaker[Session], pushgateway: str, tmp_path: Path
) -> None:
    store_window(pg_sessions, "credit", date(2024, 5, 2), share=0.5, accuracy=0.8)
    store_window(pg_sessions, "churn", date(2024, 5, 2), share=0.25, accuracy=0.95)
    pushed = push_model_metrics(pg_sessions, "credit", SecretStr(pushgateway), timeout=5)
    assert pushed.ok, pushed.message

    server, thread = start_metrics_server(pg_sessions, "127.0.0.1", 0)
    exporter = f"127.0.0.1:{server.server_port}"
    gateway = pushgateway.removeprefix("http://")
    base, prometheus = _prometheus(tmp_path, {"exporter": exporter, "gateway": gateway})
    try:
        _wait_ready(f"{base}/-/ready", prometheus)
        shares = _by_job_and_model(_query_until(base, "driftwise_drift_share_ratio", 3))
        accuracy = _query_until(base, 'driftwise_quality{metric="accuracy",job="driftwise"}', 1)
        columns = _query_until(
            base, 'count by (job) (driftwise_column_drift_score{model="credit"})', 2
        )
    finally:
        _stop(prometheus)
        server.shutdown()
        thread.join(timeout=5)
    # The exporter shows both models; the gateway the one a run pushed, under job "driftwise".
    assert shares == {
        ("exporter", "credit"): 0.5,
        ("exporter", "churn"): 0.25,
        ("driftwise", "credit"): 0.5,
    }
    assert [float(item["value"][1]) for item in accuracy] == [0.8]  # type: ignore[index]
    assert {item["metric"]["job"]: float(item["value"][1]) for item in columns} == {  # type: ignore[index]
        "exporter": 2.0,
        "driftwise": 2.0,
    }


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("promtool"), *args],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "driftwise.rules.yml"),
        ("test", "rules", "driftwise.rules.test.yml"),
        ("check", "config", "prometheus.yml"),
    ],
    ids=["check-rules", "rule-unit-tests", "check-config"],
)
def test_promtool_accepts_the_example_files(args: tuple[str, ...]) -> None:
    result = _promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
