"""DGL's alpha swept on the default experiment: where it helps and where it hurts.

    .venv/bin/python benchmarks/sweep_alpha.py [--seeds 0,1,2] [--values 0.25,0.5,1,2,4,8] [--home DIR]

Runs ``python -m dgl_engine study --methods joint,dgl --sweep dgl.alpha=...`` (real training,
seeds x values runs), prints the table of fused accuracy and the paired DGL - joint difference
per alpha, and writes the Studies page's own sweep figure (``app/study_charts.sweep_figure``)
to ``assets/alpha_sweep.png``, rendered in Debian's Chromium (/usr/bin/chromium, no kaleido).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def render(fig, path: Path, width: int = 900, height: int = 480) -> None:
    """The figure as a PNG, drawn by plotly.js in Chromium (the app's own renderer)."""
    from playwright.sync_api import sync_playwright

    fig.update_layout(width=width, height=height)
    html = fig.to_html(include_plotlyjs=True, full_html=True, config={"staticPlot": True})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=2)
        page.set_content(html)
        page.locator(".main-svg").first.wait_for()
        page.wait_for_timeout(500)
        page.locator(".js-plotly-plot").first.screenshot(path=str(path))
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--values", default="0.25,0.5,1,2,4,8")
    ap.add_argument("--home", help="run home (default: a new temporary folder)")
    ap.add_argument("--out", default=str(ROOT / "assets" / "alpha_sweep.png"))
    a = ap.parse_args()
    home = Path(a.home or tempfile.mkdtemp(prefix="dgl-sweep-"))
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dgl_engine", "study", "--methods", "joint,dgl", "--device", "cpu", "--seeds", a.seeds,
           "--sweep", f"dgl.alpha={a.values}", "--home", str(home), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout)
    print(f"study {result['study_id']} in {home}: {len(result['runs'])} runs, status {result['status']}")
    print("| alpha | joint fused | dgl fused | dgl - joint, paired [95% CI] | dgl visual probe |")
    print("|---|---|---|---|---|")
    for value, methods in result["summary"].items():
        j, d = methods["joint"]["acc"], methods["dgl"]["acc"]
        diff = result["paired"][value]["dgl-joint"]["acc"]
        lo, hi = diff["ci95"] or (float("nan"), float("nan"))
        probe = methods["dgl"].get("probe_visual", {})
        print(f"| {value} | {100 * j['mean']:.1f} ± {100 * (j['std'] or 0):.1f} | {100 * d['mean']:.1f} ± {100 * (d['std'] or 0):.1f} "
              f"| {100 * diff['mean']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] "
              f"| {100 * probe.get('mean', float('nan')):.1f} |")
    from app.study_charts import sweep_figure

    fig = sweep_figure(result["summary"], "dgl.alpha", "acc", ["joint", "dgl"])
    render(fig, Path(a.out))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
