"""The app reads at a laptop's and a phone's size: at 1280x800 and 390x844, in Chromium, no page
overflows sideways, every chart title and subplot title fits its chart, no title, legend or axis
title sits on another, and at 1280 every table shows all its columns (on a phone a wide table
scrolls inside its frame, its first column pinned). Screenshots of every page at both sizes are
kept under the test's tmp_path.

Also: a two-seed study launched from the Experiment page opens Studies, and its banded chart
appears there.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.browser.conftest import ROOT, set_number as _set_number

pytestmark = pytest.mark.browser

SIZES = {"laptop": (1280, 800), "phone": (390, 844)}

# What is wrong with the page's layout, as the browser measures it.
CHECK = """() => {
  const root = document.documentElement, out = {overflow: root.scrollWidth - root.clientWidth, cut: [], overlaps: [], tables: []};
  const box = (e) => e.getBoundingClientRect();
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  document.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg) return;
    const frame = box(svg);
    const titles = [...plot.querySelectorAll('.gtitle, .annotation-text, .g-xtitle text, .g-ytitle text')].filter(t => box(t).width > 0);
    for (const t of titles) {
      const r = box(t);
      if (r.left < frame.left - 1 || r.right > frame.right + 1) out.cut.push([i, t.textContent]);
    }
    const parts = [...plot.querySelectorAll('.gtitle, .annotation-text, .legend, .g-xtitle')].filter(e => box(e).width > 0);
    for (let a = 0; a < parts.length; a++) for (let b = a + 1; b < parts.length; b++)
      if (hit(box(parts[a]), box(parts[b]))) out.overlaps.push([i, parts[a].textContent.slice(0, 40), parts[b].textContent.slice(0, 40)]);
  });
  // Labels cut short: a checkbox's, a widget's, a page link's text wider than its box.
  out.labels = [...document.querySelectorAll('[data-testid="stWidgetLabel"] p, [data-testid="stCheckbox"] p, [data-testid="stPageLink"] p, [data-testid="stMarkdownContainer"] p')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60));
  document.querySelectorAll('[data-testid="stDataFrame"]').forEach((t, i) => {
    const s = t.querySelector('.dvn-scroller');
    out.tables.push({hidden: s ? s.scrollWidth - s.clientWidth : 0, right: box(t).right, width: root.clientWidth});
  });
  return out;
}"""


def _ensure_a_finished_run(home) -> str:
    """The run the layout is checked on: the first test's, or one trained here from the CLI."""
    found = [p.name for p in home.iterdir() if (p / "run.json").exists() and '"finished"' in (p / "run.json").read_text()]
    if found:
        return sorted(found)[-1]
    out = subprocess.run([sys.executable, "-m", "dgl_engine", "train", "--samples-per-class", "120", "--epochs", "2",
                          "--device", "cpu", "--home", str(home), "--json"], cwd=ROOT, check=True, capture_output=True, text=True)
    import json

    return json.loads(out.stdout)["run_id"]


def _settle(pg, charts: int) -> None:
    pg.locator("h1").first.wait_for()
    if charts:
        pg.wait_for_function("n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n", arg=charts, timeout=60_000)
    time.sleep(1.5)  # plotly's last layout pass (legend, automargins) after the first draw


def test_every_page_reads_at_laptop_and_phone_size(app_url, app_home, browser, tmp_path):
    run_id = _ensure_a_finished_run(app_home)
    pages = {"experiment": ("", 0), "live": (f"live?run={run_id}", 3), "results": (f"results?run={run_id}", 2),
             "why": (f"why?run={run_id}", 2), "compare": (f"compare?runs={run_id}", 1), "predict": ("predict", 0),
             "studies": ("studies", 0)}
    problems = []
    for size, (w, h) in SIZES.items():
        pg = browser.new_page(viewport={"width": w, "height": h})
        pg.set_default_timeout(60_000)
        for name, (path, charts) in pages.items():
            pg.goto(f"{app_url}/{path}")
            _settle(pg, charts)
            found = pg.evaluate(CHECK)
            # The whole page in the picture: as tall as its content, at the same width.
            tall = pg.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            pg.set_viewport_size({"width": w, "height": min(max(h, tall), 12_000)})
            time.sleep(0.5)
            pg.screenshot(path=str(tmp_path / f"{name}-{size}.png"))
            pg.set_viewport_size({"width": w, "height": h})
            where = f"{name} at {w}x{h}"
            if found["overflow"] > 0:
                problems.append(f"{where}: the page overflows sideways by {found['overflow']} px")
            problems += [f"{where}: chart {i} cuts its title {t!r}" for i, t in found["cut"]]
            problems += [f"{where}: in chart {i}, {a!r} sits on {b!r}" for i, a, b in found["overlaps"]]
            problems += [f"{where}: the label {t!r} is cut" for t in found["labels"]]
            for i, t in enumerate(found["tables"]):
                if t["right"] > t["width"] + 1:
                    problems.append(f"{where}: table {i} runs off the page")
                if size == "laptop" and t["hidden"] > 0:
                    problems.append(f"{where}: table {i} hides {t['hidden']} px of columns")
        pg.close()
    print(f"screenshots: {tmp_path}")
    assert not problems, "\n".join(problems)


def test_a_two_seed_study_opens_studies_with_its_banded_chart(page, app_url):
    page.set_default_timeout(60_000)
    page.set_viewport_size({"width": 1400, "height": 1900})
    page.goto(app_url)
    page.get_by_role("heading", name="Experiment").wait_for()
    _set_number(page, "exp_samples_per_class", 120)
    _set_number(page, "exp_epochs", 2)
    page.get_by_text("Repeat over seeds, or sweep one setting").click()
    _set_number(page, "study_seeds", 2)
    page.locator(".st-key-start button").click()
    page.get_by_role("heading", name="Studies").wait_for()  # Start opens the study, without another click
    page.wait_for_function("() => location.search.includes('study=')")
    # The band: a filled area per method under its mean line, once the runs have validation points.
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot path.js-fill')].length > 0", timeout=300_000)
    page.get_by_text("Validation accuracy over seeds").first.wait_for()
