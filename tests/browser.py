"""Headless Chromium (Debian's package, installed by .ci/install-browser) to open a page as a
person would: the DOM after its scripts ran, and every console message it logged.

With CI=true a missing browser fails the test; elsewhere the test skips with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CONSOLE = re.compile(r":CONSOLE(?::\d+)?\]\s*(.*)$")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]
    """Every console message and uncaught error, as Chromium logged it."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "headless Chromium is not installed (bash .ci/install-browser)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _flags(profile: str) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=15000",
    ]


def render(url: str) -> Rendered:
    """Open ``url``, let its scripts run, and return the DOM and the console."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), *_flags(profile), "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
    console = [m.group(1) for line in done.stderr.splitlines() if (m := CONSOLE.search(line))]
    return Rendered(done.stdout, console)


def screenshot(url: str, path: Path, size: tuple[int, int] = (1280, 1600)) -> Path:
    """A PNG of the page as it looks once its scripts ran."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                *_flags(profile),
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={path}",
                url,
            ],
            capture_output=True,
            timeout=180,
            check=True,
        )
    return path
