"""Start ``streamlit run streamlit_app.py`` on a free local port and Debian's chromium, for the
browser tests and ``benchmarks/app_cold_start.py``."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(env: dict[str, str], port: int | None = None, timeout: float = 60):
    """Run the app on 127.0.0.1 (``env`` added to this process's environment); yield its base
    URL once ``/_stcore/health`` answers. The server is stopped (and reaped) on exit."""
    port = port or free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    log = open(os.devnull, "wb") if not os.environ.get("APP_SERVER_LOG") else None
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not None:
            log.close()


def wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")


def launch_chromium(playwright):
    """Debian's chromium, headless, with the background traffic switched off."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def app_test(timeout: float = 30):
    """``AppTest`` of streamlit_app.py that keeps running the entrypoint on every run
    (``recsys.app.streamlit_compat.navigation_only_app_tests``)."""
    from streamlit.testing.v1 import AppTest

    from recsys.app import streamlit_compat

    streamlit_compat.navigation_only_app_tests()
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
