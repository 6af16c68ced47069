"""Worker processes, measured (prints figures; not a test).

- the default experiment's wall time in a worker vs in this process (the worker's extra cost);
- two default experiments submitted together vs one after the other (makespan);
- time from Stop to a finished snapshot in each phase (data, train, test, save);
- this (server) process's memory while two runs train;
- the default run's wall time with 0 and with 8 simulated viewers polling every second.

    .venv/bin/python benchmarks/bench_workers.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dgl_engine.config import ExperimentConfig  # noqa: E402
from dgl_engine.engine import Engine  # noqa: E402
from dgl_engine.lifecycle import run  # noqa: E402
from dgl_engine.schema import override  # noqa: E402
from dgl_engine.store import RunStore  # noqa: E402


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_engine_run(home: Path, config, workers: int = 1, viewers: int = 0) -> float:
    engine = Engine(home=home, workers=workers)
    stop = threading.Event()

    def viewer(run_id):
        while not stop.is_set():
            engine.snapshot(run_id, since=0)  # the worst case: a fresh page asks for the whole history
            time.sleep(1.0)

    try:
        t0 = time.perf_counter()
        run_id = engine.submit(config)
        threads = [threading.Thread(target=viewer, args=(run_id,), daemon=True) for _ in range(viewers)]
        for t in threads:
            t.start()
        snap = engine.wait(run_id)
        assert snap.status == "finished", snap.error
        return time.perf_counter() - t0
    finally:
        stop.set()
        engine.shutdown()


def stop_times(home: Path, config) -> dict[str, float]:
    out = {}
    big = override(config, {"data.synthetic.samples_per_class": 8000, "data.synthetic.num_classes": 2})
    for phase, cfg in (("data", big), ("train", config), ("test", config), ("save", config)):
        engine = Engine(home=home / phase, workers=1)
        try:
            run_id = engine.submit(cfg)
            deadline = time.time() + 600
            while engine.snapshot(run_id, since=10**9).phase != phase and time.time() < deadline:
                if engine.snapshot(run_id, since=10**9).done:
                    break
                time.sleep(0.005)
            t0 = time.perf_counter()
            engine.cancel(run_id)
            snap = engine.wait(run_id, timeout=30)
            out[phase] = time.perf_counter() - t0 if snap.status == "cancelled" else float("nan")
        finally:
            engine.shutdown()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="a smaller experiment (figures not comparable to the README's)")
    args = p.parse_args()
    config = dataclasses.replace(ExperimentConfig(), device="cpu")
    if args.quick:
        config = override(config, {"data.synthetic.samples_per_class": 200, "train.epochs": 2})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for workers in (1, 2):  # first, while this process holds no tensors of its own
            engine = Engine(home=tmp / f"pair{workers}", workers=workers)
            try:
                before = rss_mb()
                t0 = time.perf_counter()
                ids = [engine.submit(dataclasses.replace(config, seed=s)) for s in (0, 1)]
                peak = rss_mb()
                while not all(engine.snapshot(i, since=10**9).done for i in ids):
                    peak = max(peak, rss_mb())
                    time.sleep(0.2)
                makespan = time.perf_counter() - t0
                statuses = {engine.snapshot(i).status for i in ids}
            finally:
                engine.shutdown()
            assert statuses == {"finished"}, statuses
            print(f"two default experiments, {workers} worker(s): makespan {makespan:.1f} s; "
                  f"server RSS {before:.0f} MB before, {peak:.0f} MB at most while they trained")

        in_worker = timed_engine_run(tmp / "worker", config)
        t0 = time.perf_counter()
        assert run(config, RunStore(tmp / "inproc")).status == "finished"
        in_process = time.perf_counter() - t0
        print(f"default experiment: {in_process:.1f} s in this process, {in_worker:.1f} s in a worker "
              f"(worker cost {in_worker - in_process:+.1f} s; one after the other: {2 * in_worker:.1f} s)")

        for phase, seconds in stop_times(tmp / "stop", config).items():
            print(f"stop during {phase}: {seconds:.2f} s")

        quiet = timed_engine_run(tmp / "v0", config, viewers=0)
        watched = timed_engine_run(tmp / "v8", config, viewers=8)
        print(f"default run with 0 viewers: {quiet:.1f} s; with 8 viewers polling every second: {watched:.1f} s "
              f"({watched / quiet:.2f}x)")


if __name__ == "__main__":
    main()
