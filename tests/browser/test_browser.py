"""Drive the real app in Chromium: start an experiment, watch it live, read the results, then
upload one real clip to the trained models on the Predict page.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`); never downloads
a browser. Skipped without it, unless DGL_LAB_REQUIRE_BROWSER=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP = re.compile(r"step (\d+) / (\d+)")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("DGL_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, chromium_path):
    """The app served by `streamlit run app/main.py` on a free port, with an empty run store."""
    home = tmp_path_factory.mktemp("browser-runs")
    port = _free_port()
    log = open(home / "streamlit.log", "w")
    env = {**os.environ, "DGL_LAB_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def page(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1900})
        finally:
            browser.close()


def _step(page) -> tuple[int, int] | None:
    found = STEP.search(page.inner_text("body"))
    return (int(found.group(1)), int(found.group(2))) if found else None


def _set_number(page, key: str, value: int) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_function(
        "([sel, v]) => document.querySelector(sel) && document.querySelector(sel).value === v",
        arg=[f".st-key-{key} input", str(value)],
    )


def test_start_watch_and_read_results(page, app_url, tmp_path, shared_data):
    try:
        _start_watch_and_read_results(page, app_url, tmp_path)
        _predict_on_a_real_clip(page, shared_data / "clips" / "example2.mp4")
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failing page: {tmp_path / 'failure.png'}")
        raise


def _start_watch_and_read_results(page, app_url, tmp_path):
    page.set_default_timeout(30_000)
    # A fresh server's first request names a page: main.py must still be the router (titled
    # navigation, not Streamlit's file-name pages-folder mode).
    page.goto(f"{app_url}/why")
    page.get_by_role("heading", name="Why it happens").wait_for()
    page.get_by_role("link", name="Experiment", exact=True).wait_for()
    assert page.get_by_role("link", name="main", exact=True).count() == 0

    page.goto(app_url)
    page.get_by_role("heading", name="Experiment").wait_for()
    # A smaller dataset than the default so the test finishes quickly; still 72 steps to watch.
    _set_number(page, "exp_samples_per_class", 300)
    _set_number(page, "exp_epochs", 4)
    page.locator(".st-key-start button").click()
    # Start opens Live on the new run, without another click.
    page.get_by_role("heading", name="Live").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.wait_for_function("() => location.search.includes('run=')")
    run_id = re.search(r"run=([^&]+)", page.url).group(1)  # a reload keeps watching this run
    assert run_id in page.inner_text("body")

    # The curves grow while the page is open: the step counter moves between two reads.
    deadline = time.time() + 180  # generous: a busy CI machine trains slowly
    seen: list[int] = []
    while time.time() < deadline and len(set(seen)) < 3:
        step = _step(page)
        if step and step[0] > 0 and step[0] < step[1]:
            seen.append(step[0])
        if "Finished in" in page.inner_text("body"):
            break
        time.sleep(0.5)
    assert len(set(seen)) >= 2 and seen == sorted(seen), f"progress did not advance live: {seen}"
    assert page.locator(".js-plotly-plot").count() >= 2  # accuracy curves + gradients

    page.get_by_text("Finished in").wait_for(timeout=240_000)
    page.get_by_role("heading", name="Test results").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    time.sleep(1.5)  # let plotly finish drawing before the screenshot
    shot = page.screenshot()
    (tmp_path / "live.png").write_bytes(shot)  # the README's picture comes from a full run: scripts/readme_screenshot.py

    page.reload()  # the URL remembers the run
    page.get_by_text("Finished in").wait_for()
    assert run_id in page.inner_text("body")

    page.get_by_role("link", name="Results", exact=True).click()
    page.get_by_role("heading", name="Test metrics").wait_for()
    assert page.locator("[data-testid='stDataFrame']").count() >= 2  # runs table + metrics table
    assert run_id in page.inner_text("body")
    page.locator(".js-plotly-plot").first.wait_for()


def _predict_on_a_real_clip(page, clip: Path):
    """The run just trained appears on Predict; an uploaded real clip gets each model's answer."""
    page.get_by_role("link", name="Predict", exact=True).click()
    page.get_by_role("heading", name="Predict").wait_for()
    page.get_by_text("Upload a clip or an image").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(clip))
    page.get_by_role("heading", name="What the models say").wait_for(timeout=90_000)
    body = page.inner_text("body")
    assert "joint" in body and "dgl" in body
    assert page.locator(".js-plotly-plot").count() >= 2  # probabilities per model (+ spectrogram)
