"""What the CLI prints: a progress bar on stderr and the test-metrics table with its findings.

Pure text from events and results; the CLI decides where it goes.
"""

from __future__ import annotations

import sys

# Test-split metrics reported per method; keys that do not apply to a method are omitted.
SUMMARY_KEYS = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1", "shapley_audio", "shapley_visual")
# Added where a run asked for official scores (train.official_scores, the paper protocol): the
# best test epoch's accuracy (selected on the test set: optimistic), which epoch, and the final
# epoch on the clips the official loader scores.
OFFICIAL_KEYS = ("acc_best_epoch", "best_epoch", "acc_official_subset")


class TqdmObserver:
    """Progress bar on stderr: one bar over all lockstep steps, with the latest accuracies."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None
        self.latest: dict[str, float] = {}

    def __call__(self, event) -> None:
        if event.type == "phase" and event.phase == "data" and event.total:
            self._caching(event.done, event.total)
        elif event.type == "phase":
            if self.bar is None:
                print(f"[{event.phase}] {event.message}", file=sys.stderr)
        elif event.type == "progress":
            if self.bar is None:
                self.bar = self._tqdm(total=event.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
            self.bar.set_postfix({k: f"{v:.2f}" for k, v in self.latest.items()}, refresh=False)
            self.bar.update(event.step - self.bar.n)
        elif event.type == "eval":
            self.latest[event.method] = event.metrics["acc"]
        elif event.type == "test" and self.bar is not None:
            self.bar.close()
            self.bar = None

    def _caching(self, done: int, total: int) -> None:
        """A clips bar while a real dataset's features are decoded (none when all are cached)."""
        if self.bar is None:
            if done == total:
                return
            self.bar = self._tqdm(total=total, initial=done, unit="clip", desc="caching features", file=sys.stderr,
                                  dynamic_ncols=True, mininterval=0.5)
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()
            self.bar = None

    def close(self):
        if self.bar is not None:
            self.bar.close()


def summarize(results: dict) -> dict:
    keys = SUMMARY_KEYS + OFFICIAL_KEYS
    return {m: {k: round(v, 4) for k, v in metrics.items() if k in keys} for m, metrics in results.items()}


def format_table(results: dict) -> str:
    """A readable table of test metrics, then what it shows about imbalance and DGL."""
    cols = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1")
    head = f"{'method':<12}" + "".join(f"{c:>13}" for c in cols)
    lines = ["Test split (per-modality accuracy in zero mode; probe = linear probe on frozen features)", head, "-" * len(head)]
    for m, metrics in results.items():
        lines.append(f"{m:<12}" + "".join(f"{metrics[c] * 100:>12.1f}%" if c in metrics else f"{'-':>13}" for c in cols))
    lines += official_lines(results)
    lines += [""] + [f"- {s}" for s in findings(results)]
    return "\n".join(lines)


def official_lines(results: dict) -> list[str]:
    """The official code's figures beside ours, when the run computed them."""
    rows = [(m, r) for m, r in results.items() if "acc_best_epoch" in r]
    if not rows:
        return []
    out = ["", "As the official code reports (best test epoch: model selected on the test set, optimistic):"]
    for m, r in rows:
        subset = f"; final epoch on the official loader's clips {r['acc_official_subset'] * 100:.1f}%" if "acc_official_subset" in r else ""
        out.append(f"{m:<12} best epoch {r['best_epoch']}: {r['acc_best_epoch'] * 100:.1f}%{subset} "
                   f"(ours, final epoch, every test clip: {r['acc'] * 100:.1f}%)")
    return out


def findings(results: dict) -> list[str]:
    """Plain sentences comparing the methods (only those the run allows)."""
    out = []
    joint, dgl = results.get("joint"), results.get("dgl")
    for m in ("audio", "visual"):
        uni = results.get(f"{m}-only")
        if uni and joint and f"probe_{m}" in uni and f"probe_{m}" in joint:
            gap = (joint[f"probe_{m}"] - uni[f"probe_{m}"]) * 100
            line = f"{m} encoder inside the joint model: linear probe {joint[f'probe_{m}'] * 100:.1f}% vs {uni[f'probe_{m}'] * 100:.1f}% trained alone ({gap:+.1f} points)"
            if dgl and f"probe_{m}" in dgl:
                line += f"; DGL's: {dgl[f'probe_{m}'] * 100:.1f}%"
            out.append(line)
    if joint and dgl:
        out.append(f"fused accuracy: DGL {dgl['acc'] * 100:.1f}% vs joint {joint['acc'] * 100:.1f}% ({(dgl['acc'] - joint['acc']) * 100:+.1f} points)")
    return out
