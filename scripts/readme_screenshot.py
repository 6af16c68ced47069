"""Regenerate assets/live.png, the README's picture of the Live page, from a real default run.

    .venv/bin/python scripts/readme_screenshot.py

Trains the default experiment with the CLI into a temporary run home, serves the app on it,
and screenshots the Live page of that run in Debian's Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="dgl-shot-"))
    env = {**os.environ, "DGL_LAB_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "dgl_engine", "train", "--json", "--home", str(home)],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    run_id = result["run_id"]
    print(f"default experiment trained in {result['seconds']} s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            page.goto(f"{url}/live?run={run_id}")
            page.get_by_role("heading", name="Test results").wait_for(timeout=60_000)
            page.locator(".js-plotly-plot").first.wait_for()
            time.sleep(2)
            (ROOT / "assets").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "assets" / "live.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"wrote assets/live.png from run {run_id}")


if __name__ == "__main__":
    main()
