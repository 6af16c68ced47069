"""Worst time and peak memory of ``python -m dgl_engine predict`` over a corpus of hostile files.

Run from the repository root: ``.venv/bin/python benchmarks/bench_limits.py [--warm]``. The
corpus (``tests/hardening/corpus.py``, made here in a temporary folder) holds video frames
600 s apart, a 12000 x 12000 PNG of 420 KB, 10,000 frames at 500 fps, 30,000 one-sample packets,
WAVs at 1 Hz, 2 GHz, with 64 and 1000 channels or full of NaN, truncated files and the largest
picture accepted (49 Mpx). Each file is predicted by a fresh process, start-up included, with
two untrained models: the lab preset (tiny encoders) and the paper preset (ResNet-18, 224 px),
the costliest we make. Targets (``dgl_engine/limits.py``): under 5 s and 1 GB on a 2-core CPU.
``--warm`` also measures the prediction alone (the CLI in a forked child of a warm process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgl_engine import limits  # noqa: E402
from tests.hardening.corpus import media_corpus, model_run  # noqa: E402
from tests.hardening.measure import run_measured  # noqa: E402

SETUPS = {"lab": ("lab", "tiny"), "paper": ("paper", "resnet18")}


def _answer(r: dict) -> str:
    if r["rc"] == 0:
        out = json.loads(r["stdout"])
        return f"{out['answer']['label']} ({len(out['warnings'])} warnings)"
    return (r["stderr"].strip().splitlines() or ["?"])[-1][:90]


def main() -> None:
    warm = "--warm" in sys.argv
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        folder, home = Path(tmp) / "corpus", Path(tmp) / "home"
        files = sorted(media_corpus(folder))
        for run_id, (preset, encoder) in SETUPS.items():
            model_run(home, run_id, preset, encoder)
        worst = {"seconds": (0.0, ""), "cpu_seconds": (0.0, ""), "max_rss": (0, "")}
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for run_id in SETUPS:
            print(f"\n{run_id} model ({SETUPS[run_id][1]}): fresh process per file, start-up included")
            for name in files:
                cmd = [sys.executable, "-m", "dgl_engine", "predict", "--home", str(home), "--run", run_id,
                       "--method", "dgl", "--json", str(folder / name)]
                r = run_measured(cmd, cwd=tmp, env=env, limit_s=120)
                for key in worst:
                    if r[key] > worst[key][0]:
                        worst[key] = (r[key], f"{name} ({run_id})")
                print(f"  {name:<18} {r['seconds']:5.2f} s (CPU {r['cpu_seconds']:5.2f} s) {r['max_rss'] / 2**20:6.0f} MB  "
                      f"rc {r['rc']}  {_answer(r)}")
            if warm:
                r = subprocess.run([sys.executable, str(REPO / "tests" / "hardening" / "measure.py"), "--home", str(home),
                                    "--run", run_id, *[str(folder / n) for n in files]], capture_output=True, text=True)
                rows = [json.loads(line) for line in r.stdout.splitlines()]
                slow = max(rows, key=lambda x: x["seconds"])
                busy = max(rows, key=lambda x: x["cpu_seconds"])
                print(f"  prediction alone (warm, forked): worst {slow['seconds']:.2f} s ({slow['file']}), "
                      f"CPU {busy['cpu_seconds']:.2f} s ({busy['file']}), peak {max(x['max_rss'] for x in rows) / 2**20:.0f} MB")
        (t, t_file), (c, c_file), (m, m_file) = worst["seconds"], worst["cpu_seconds"], worst["max_rss"]
        target = limits.PREDICT_TARGET_SECONDS
        print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it; CPU times less)")
        print(f"worst time {t:.2f} s ({t_file}) {'OK' if t <= target else 'OVER'} (target {target:g} s)")
        print(f"worst CPU time {c:.2f} s ({c_file}) {'OK' if c <= target else 'OVER'} (target {target:g} s)")
        m_ok = m <= limits.PREDICT_TARGET_BYTES
        print(f"peak memory {m / 2**20:.0f} MB ({m_file}) {'OK' if m_ok else 'OVER'} "
              f"(target {limits.PREDICT_TARGET_BYTES / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
