"""What the CLI prints: a progress bar on stderr, the test-metrics table with its findings, and
strict JSON.

Pure text from events and results; the CLI decides where it goes.
"""

from __future__ import annotations

import json
import math
import sys

# Test-split metrics reported per method; keys that do not apply to a method are omitted.
SUMMARY_KEYS = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1", "shapley_audio", "shapley_visual")
# Added where a run asked for official scores (train.official_scores, the paper protocol): the
# best test epoch's accuracy (selected on the test set: optimistic), which epoch, and the final
# epoch on the clips the official loader scores.
OFFICIAL_KEYS = ("acc_best_epoch", "best_epoch", "acc_official_subset")


def _finite(value):
    """`value` with every NaN / infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dump_json(value) -> str:
    """Strict JSON for the CLI's stdout (``allow_nan=False``): what any JSON parser accepts."""
    return json.dumps(_finite(value), allow_nan=False)


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


HEAD_KEYS = ("acc_audio_head", "acc_visual_head")  # head mode: methods with heads of their own (G-Blend, MLB, DI-MML)


def summarize(results: dict) -> dict:
    keys = SUMMARY_KEYS + HEAD_KEYS + OFFICIAL_KEYS
    return {m: {k: round(v, 4) for k, v in metrics.items() if k in keys} for m, metrics in results.items()}


def format_table(results: dict) -> str:
    """A readable table of test metrics, then what it shows about imbalance and DGL."""
    cols = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1")
    if any(k in r for r in results.values() for k in HEAD_KEYS):
        cols = cols[:3] + HEAD_KEYS + cols[3:]
    head = f"{'method':<12}" + "".join(f"{c:>13}" if len(c) < 13 else f"{c:>16}" for c in cols)
    lines = ["Test split (per-modality accuracy in zero mode, *_head: the method's own head; "
             "probe = linear probe on frozen features)", head, "-" * len(head)]
    for m, metrics in results.items():
        lines.append(f"{m:<12}" + "".join((f"{metrics[c] * 100:>12.1f}%" if c in metrics else f"{'-':>13}").rjust(16 if len(c) >= 13 else 13)
                                          for c in cols))
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


class StudyProgress:
    """One bar on stderr over every run of a study (fractions of a run as its steps go), with the
    point being trained and its latest validation accuracies."""

    def __init__(self, runs: int):
        from tqdm import tqdm

        self.bar = tqdm(total=runs, unit="run", file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                        bar_format="{l_bar}{bar}| {n:.1f}/{total} runs [{elapsed}<{remaining}{postfix}]")
        self.done, self.point, self.latest = 0, "", {}

    def start(self, point: str) -> None:
        self.point, self.latest = point, {}
        self.bar.set_description(point, refresh=True)

    def __call__(self, event) -> None:
        if event.type == "eval":
            self.latest[event.method] = event.metrics["acc"]
        elif event.type == "progress" and event.total_steps:
            self.bar.set_postfix({k: f"{v:.2f}" for k, v in self.latest.items()}, refresh=False)
            self.bar.update(self.done + event.step / event.total_steps - self.bar.n)

    def end_run(self) -> None:
        self.done += 1
        self.bar.update(self.done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _cell(d: dict | None, paired: bool) -> str:
    if not d:
        return "-"
    if paired:
        ci = d.get("ci95")
        return f"{d['mean'] * 100:+.1f} [{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]" if ci else f"{d['mean'] * 100:+.1f}"
    return f"{d['mean'] * 100:.1f} ± {d['std'] * 100:.1f}" if d.get("std") is not None else f"{d['mean'] * 100:.1f}"


def format_study(result: dict, sweep_key: str | None = None) -> str:
    """Mean ± sample std (ddof=1) per method, and each method's paired difference to joint with
    its 95% bootstrap interval, per swept value; in % and points of the test split."""
    lines = []
    for value, methods in result["summary"].items():
        n = max((s.get("n", 0) for m in methods.values() for s in m.values()), default=0)
        lines.append((f"{sweep_key} = {value}: " if sweep_key else "") + f"test split, {n} seed{'s' if n != 1 else ''}, "
                     "mean ± sample std (%)")
        head = f"{'method':<18}" + "".join(f"{c:>21}" for c in SUMMARY_KEYS)
        lines += [head, "-" * len(head)]
        lines += [f"{m:<18}" + "".join(f"{_cell(s.get(c), False):>21}" for c in SUMMARY_KEYS) for m, s in methods.items()]
        diffs = result["paired"].get(value) or {}
        if diffs:
            lines.append("paired difference, seed by seed (points; [95% bootstrap CI over seeds])")
            lines += [f"{m:<18}" + "".join(f"{_cell(s.get(c), True):>21}" for c in SUMMARY_KEYS) for m, s in diffs.items()]
        lines.append("")
    return "\n".join(lines).rstrip()
