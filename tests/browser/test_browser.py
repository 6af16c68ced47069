"""Drive the real app in Chromium: start an experiment, watch it live, read the results, then
upload one real clip to the trained models on the Predict page.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`); never downloads
a browser. Skipped without it, unless DGL_LAB_REQUIRE_BROWSER=1 (CI), where it fails.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.browser.conftest import set_number as _set_number

STEP = re.compile(r"step (\d+) / (\d+)")

pytestmark = pytest.mark.browser


def _step(page) -> tuple[int, int] | None:
    found = STEP.search(page.inner_text("body"))
    return (int(found.group(1)), int(found.group(2))) if found else None


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
