"""The paper protocol on the CREMA-D samples, one epoch on the CPU: time per step per method
(prints a Markdown table; not a test).

The samples (../shared/data/cremad: 6 clips of actor 1001, 4 of them in train.csv) make one
step of 4 clips per epoch, so the figure is the cost of a ResNet-18 pair at batch 4. With
``--full-batch`` it also times each method's step at the protocol's batch of 64 on inputs of
the protocol's shapes, and what 100 epochs of CREMA-D's 6,698 training clips (104 steps each)
would take on this machine at that rate.

    .venv/bin/python benchmarks/bench_paper.py [--data ../shared/data] [--methods joint,dgl] [--full-batch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgl_engine.config import DataConfig, ExperimentConfig, TrainConfig  # noqa: E402
from dgl_engine.lifecycle import run  # noqa: E402
from dgl_engine.store import RunStore  # noqa: E402
from dgl_engine.validate import resolve  # noqa: E402

STEPS_PER_EPOCH = 6698 // 64  # full CREMA-D under the protocol


def samples_root(shared: Path, tmp: Path) -> Path:
    """The samples in the release layout (the resampled WAVs as AudioWAV/), under a data root."""
    root = tmp / "data" / "cremad"
    root.mkdir(parents=True)
    for src, name in (("AudioWAV_resampled", "AudioWAV"), ("VideoFlash", "VideoFlash"), ("splits", "splits")):
        (root / name).symlink_to(shared / "cremad" / src, target_is_directory=True)
    return root


def step_seconds(config: ExperimentConfig, method: str, audio, visual, labels, reps: int = 2) -> float:
    """Median seconds of one training step of `method` (backward, clip, SGD step) on this batch,
    after a warm-up step: the steady-state cost, without the gradient diagnostics the trainer
    adds on its first step and every 20th."""
    from dgl_engine.methods import create_method
    from dgl_engine.models.av_model import build_model
    from dgl_engine.trainer import make_optimizer

    model = build_model(config.model, 6, 0).train()
    opt = make_optimizer(model, config.train)
    m = create_method(method, config.method_params.get(method), torch.Generator().manual_seed(0))
    times = []
    for i in range(reps + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        m.backward(model, audio, visual, labels)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="folder holding cremad/ (the samples)")
    p.add_argument("--methods", default="audio-only,visual-only,joint,dgl")
    p.add_argument("--full-batch", action="store_true", help="also time a step at batch 64 (slow on a CPU)")
    p.add_argument("--reps", type=int, default=2, help="timed steps per method after a warm-up step")
    args = p.parse_args()
    methods = tuple(args.methods.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU only (no GPU measured)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = samples_root(Path(args.data), tmp)
        os.environ["DGL_LAB_DATA"] = str(root.parent)
        # The protocol, but one epoch (kept against the protocol's 100, as `--epochs 1` would).
        config = resolve(ExperimentConfig(protocol="paper", protocol_keep=("train.epochs",), methods=methods, device="cpu",
                                          data=DataConfig(dataset="cremad", root=str(root)), train=TrainConfig(epochs=1)))
        store = RunStore(tmp / "runs")
        t0 = time.perf_counter()
        outcome = run(config, store)
        wall = time.perf_counter() - t0
        assert outcome.status == "finished", outcome.error
        batch = min(config.train.batch_size, store.read(outcome.run_id)["data"]["clips"]["train"])
        logged: dict[str, list[float]] = {}
        for e in store.read_events(outcome.run_id):
            if e["type"] == "step":  # samples/s of the method's own step in the lockstep loop
                logged.setdefault(e["method"], []).append(batch / e["samples_per_s"])
        # Steady state on the same clips, as the trainer feeds them (crops of the whole frames).
        from dgl_engine.augment import crop_whole_frames
        from dgl_engine.data.registry import load_real

        data = load_real(config.data, config.seed, home=tmp / "runs")
        visual = crop_whole_frames(data.train_frames, torch.Generator().manual_seed(0), 224, data.normalization)
        audio, labels = data.train.audio, data.train.labels
        if args.full_batch:  # the protocol's shapes at batch 64
            big = (torch.randn(64, *audio.shape[1:]), torch.randn(64, *visual.shape[1:]), torch.randint(0, 6, (64,)))
        print(f"\nPaper protocol, 1 epoch on the CREMA-D samples ({batch} training clips: 1 step of {batch}); "
              f"run wall time {wall:.1f} s (decoding, training, evaluation, probes, saving)\n")
        head = f"| method | logged step, s (first: with diagnostics) | s / step, batch {batch} |"
        print(head + (" s / step, batch 64 | 100 epochs of CREMA-D, h |" if args.full_batch else ""))
        print("|---|---|---|" + ("---|---|" if args.full_batch else ""))
        for method in methods:
            row = (f"| {method} | {statistics.median(logged[method]):.2f} | "
                   f"{step_seconds(config, method, audio, visual, labels, args.reps):.2f} |")
            if args.full_batch:
                s64 = step_seconds(config, method, *big, reps=args.reps)
                row += f" {s64:.1f} | {s64 * STEPS_PER_EPOCH * 100 / 3600:.1f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
