"""Command line: ``python -m dgl_engine train|runs|...``.

Contract other tools depend on: progress (tqdm) on stderr; with ``--json`` stdout is exactly
one JSON object; bad arguments exit with status 2 and one line naming what is valid.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path

from dgl_engine.config import ConfigError, DataConfig, ExperimentConfig, ModelConfig, TrainConfig, validate

# Test-split metrics reported per method; keys that do not apply to a method are omitted.
SUMMARY_KEYS = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1")


class UsageError(Exception):
    """Bad arguments: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors -> one line, exit 2
        raise UsageError(message)


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {value}")
        return value
    return parse


def _number(name):
    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
    return parse


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dgl_engine", description="DGL Lab: modality imbalance experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train methods in lockstep and print test metrics")
    t.add_argument("--dataset", default="synthetic", help="synthetic (default), cremad, folder, kinetics-sounds, ave, avmnist")
    t.add_argument("--preset", default=None, help="synthetic: default, audio-dominant, visual-dominant, balanced; real data: lab, paper")
    t.add_argument("--root", default=None, help="real datasets: the dataset folder (inside DGL_LAB_DATA)")
    t.add_argument("--classes", type=_csv, default=(), help="comma-separated subset of classes")
    t.add_argument("--per-class", type=_positive_int("--per-class"), default=None, help="at most N training clips per class")
    t.add_argument("--fraction", type=_number("--fraction"), default=1.0, help="keep this fraction of each split")
    t.add_argument("--splits", default=None, help="CREMA-D: folder with train.csv/test.csv")
    t.add_argument("--test-speakers", type=_csv, default=(), help="AV-MNIST: speakers held out for test")
    t.add_argument("--samples-per-class", type=_positive_int("--samples-per-class"), default=None, help="synthetic: samples per class")
    t.add_argument("--num-classes", type=_positive_int("--num-classes"), default=None, help="synthetic: number of classes")
    t.add_argument("--methods", type=_csv, default=ExperimentConfig().methods, help="comma-separated methods")
    t.add_argument("--encoder", default="tiny", help="tiny or resnet18")
    t.add_argument("--fusion", default="concat", help="concat or sum")
    t.add_argument("--epochs", type=_positive_int("--epochs"), default=TrainConfig.epochs)
    t.add_argument("--batch-size", type=_positive_int("--batch-size"), default=TrainConfig.batch_size)
    t.add_argument("--lr", type=_number("--lr"), default=TrainConfig.lr)
    t.add_argument("--alpha", type=_number("--alpha"), default=TrainConfig.alpha, help="DGL's unimodal loss scale")
    t.add_argument("--ogm-alpha", type=_number("--ogm-alpha"), default=TrainConfig.ogm_alpha)
    t.add_argument("--optimizer", default="sgd", help="sgd or adam")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--home", default=None, help="run store folder (default $DGL_LAB_HOME or ./runs)")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    c = sub.add_parser("cache", help="decode a real dataset's clips into the feature cache (resumable)")
    c.add_argument("--dataset", required=True, help="cremad, folder, kinetics-sounds, ave, avmnist")
    c.add_argument("--root", required=True, help="the dataset folder (inside DGL_LAB_DATA)")
    c.add_argument("--preset", default="lab", help="preprocessing: lab (default) or paper")
    c.add_argument("--classes", type=_csv, default=(), help="comma-separated subset of classes")
    c.add_argument("--per-class", type=_positive_int("--per-class"), default=None, help="at most N training clips per class")
    c.add_argument("--fraction", type=_number("--fraction"), default=1.0, help="keep this fraction of each split")
    c.add_argument("--splits", default=None, help="CREMA-D: folder with train.csv/test.csv")
    c.add_argument("--test-speakers", type=_csv, default=(), help="AV-MNIST: speakers held out for test")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--workers", type=_positive_int("--workers"), default=None, help="decoding threads (default: CPUs, at most 8)")
    c.add_argument("--home", default=None, help="run store folder holding .cache/ (default $DGL_LAB_HOME or ./runs)")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    r = sub.add_parser("runs", help="list stored runs")
    r.add_argument("--home", default=None)
    r.add_argument("--json", action="store_true")

    pr = sub.add_parser("predict", help="say what a clip is (and what each modality alone says) with a trained model")
    pr.add_argument("file", help="a video, audio or image file")
    pr.add_argument("--run", required=True, help="run id (see `runs`)")
    pr.add_argument("--method", required=True, help="which of the run's models, e.g. dgl")
    pr.add_argument("--image", default=None, help="an image whose picture goes with FILE's sound")
    pr.add_argument("--home", default=None, help="run store folder (default $DGL_LAB_HOME or ./runs)")
    pr.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    sa = sub.add_parser("samples", help="write a few test clips of a run as .mp4 files, to try `predict` on")
    sa.add_argument("--run", required=True, help="run id (see `runs`)")
    sa.add_argument("--out", required=True, help="folder to write <class>_<n>.mp4 into (created if needed)")
    sa.add_argument("--n", type=_positive_int("--n"), default=6, help="how many clips (default 6, classes in turn)")
    sa.add_argument("--home", default=None, help="run store folder (default $DGL_LAB_HOME or ./runs)")
    return p


def config_from_args(a: argparse.Namespace) -> ExperimentConfig:
    from dgl_engine.data.synthetic import PRESETS

    if a.dataset == "synthetic":
        preset = a.preset or "default"
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
        synthetic = PRESETS[preset]
        if a.samples_per_class is not None:
            synthetic = dataclasses.replace(synthetic, samples_per_class=a.samples_per_class)
        if a.num_classes is not None:
            synthetic = dataclasses.replace(synthetic, num_classes=a.num_classes)
        data = DataConfig(dataset="synthetic", preset=preset, synthetic=synthetic, fraction=a.fraction)
    else:
        data = DataConfig(
            dataset=a.dataset, preset=a.preset or "lab", root=a.root, classes=a.classes,
            per_class=a.per_class, fraction=a.fraction, splits=a.splits, test_speakers=a.test_speakers,
        )
    return ExperimentConfig(
        data=data,
        model=ModelConfig(encoder=a.encoder, fusion=a.fusion),
        train=dataclasses.replace(
            TrainConfig(), epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, alpha=a.alpha,
            ogm_alpha=a.ogm_alpha, optimizer=a.optimizer,
        ),
        methods=a.methods,
        seed=a.seed,
        device=a.device,
    )


def _check_home(home: str | None, must_exist: bool) -> Path:
    from dgl_engine.store import default_home

    path = Path(home) if home is not None else default_home()
    if home is not None and must_exist and not path.is_dir():
        raise UsageError(f"--home {home}: no such folder (create it, or omit --home to use ./runs)")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--home {path}: not a folder")
    return path


class TqdmObserver:
    """Progress bar on stderr: one bar over all lockstep steps, with the latest accuracies."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None
        self.latest: dict[str, float] = {}

    def __call__(self, event) -> None:
        if event.type == "phase":
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

    def close(self):
        if self.bar is not None:
            self.bar.close()


def summarize(results: dict) -> dict:
    return {m: {k: round(v, 4) for k, v in metrics.items() if k in SUMMARY_KEYS} for m, metrics in results.items()}


def format_table(results: dict) -> str:
    """A readable table of test metrics, then what it shows about imbalance and DGL."""
    cols = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1")
    head = f"{'method':<12}" + "".join(f"{c:>13}" for c in cols)
    lines = ["Test split (per-modality accuracy in zero mode; probe = linear probe on frozen features)", head, "-" * len(head)]
    for m, metrics in results.items():
        lines.append(f"{m:<12}" + "".join(f"{metrics[c] * 100:>12.1f}%" if c in metrics else f"{'-':>13}" for c in cols))
    lines += [""] + [f"- {s}" for s in findings(results)]
    return "\n".join(lines)


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


def cmd_train(a) -> int:
    from dgl_engine.experiment import run_experiment
    from dgl_engine.store import RunStore
    from dgl_engine.trainer import Cancelled

    config = config_from_args(a)
    warnings = validate(config)
    if config.data.dataset != "synthetic":
        from dgl_engine.data.registry import check_root

        check_root(config.data)
    home = _check_home(a.home, must_exist=True)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    store = RunStore(home)
    run_id = store.create(config.to_dict(), status="running")
    store.update(run_id, started=time.time(), warnings=warnings)
    observer = TqdmObserver()
    t0 = time.time()
    status, error, results = "finished", None, {}
    # SIGTERM behaves like Ctrl-C: the run is recorded as cancelled, not left "running".
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if config.data.dataset != "synthetic":
            fill_cache(config.data, config.seed, home)  # a progress bar while clips are decoded
        results = run_experiment(config, store, run_id, [observer]).test
    except (Cancelled, KeyboardInterrupt):
        status, error = "cancelled", "stopped by the user"
    except Exception as exc:  # noqa: BLE001 - recorded in the store, reported in one line
        from dgl_engine.engine import describe_error

        status, error = "failed", describe_error(exc)
    finally:
        observer.close()
    seconds = round(time.time() - t0, 2)
    store.update(run_id, status=status, error=error, finished=time.time(), seconds=seconds)
    if a.json:
        out = {"run_id": run_id, "status": status, "seconds": seconds, "methods": summarize(results)}
        if error:
            out["error"] = error
        print(json.dumps(out))
    else:
        if results:
            print(format_table(results))
        print(f"\nrun {run_id}: {status} in {seconds:.1f} s" + (f" ({error})" if error else "") + f"; stored in {home / run_id}")
    return 0 if status == "finished" else 1


def fill_cache(data: DataConfig, seed: int, home: Path, workers: int | None = None) -> dict:
    """Decode what the feature cache lacks, with a tqdm bar (clips) on stderr."""
    from tqdm import tqdm

    from dgl_engine.data.registry import cache_features

    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:
            if done == total:  # everything already cached: no bar
                return
            bars.append(tqdm(total=total, initial=done, unit="clip", desc="caching features", file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5))
        bars[0].update(done - bars[0].n)

    try:
        return cache_features(data, seed=seed, home=home, progress=progress, workers=workers)
    finally:
        for bar in bars:
            bar.close()


def cmd_cache(a) -> int:
    from dgl_engine.data.registry import check_root, describe

    if a.dataset == "synthetic":
        raise UsageError("synthetic data is generated, not cached; cache takes a real dataset: cremad, folder, kinetics-sounds, ave, avmnist")
    if not 0 < a.fraction <= 1:
        raise UsageError("--fraction must be in (0, 1]")
    data = DataConfig(
        dataset=a.dataset, preset=a.preset, root=a.root, classes=a.classes, per_class=a.per_class,
        fraction=a.fraction, splits=a.splits, test_speakers=a.test_speakers,
    )
    check_root(data)
    home = _check_home(a.home, must_exist=False)
    try:
        stats = fill_cache(data, a.seed, home, a.workers)
    except KeyboardInterrupt:
        print("interrupted: the clips decoded so far are kept; run the same command again to resume", file=sys.stderr)
        return 1
    info = describe(data, a.seed, home=home)
    speed = stats["decoded"] + stats["failed"]
    out = {**stats, "clips_per_s": round(speed / stats["seconds"], 2) if speed and stats["seconds"] else None,
           "layout": info["layout"], "classes": info["classes"], "counts": info["counts"],
           "skipped": info["skipped"], "skipped_total": info["skipped_total"], "notes": info["notes"]}
    if a.json:
        print(json.dumps(out))
        return 0
    per_split = ", ".join(f"{s} {sum(c.values())}" for s, c in info["counts"].items())
    print(f"{info['layout']}\n{stats['clips']} clips ({per_split}) in {len(info['classes'])} classes at {stats['root']}")
    rate = f" ({out['clips_per_s']} clips/s)" if out["clips_per_s"] else ""
    print(f"features ({a.preset}): {stats['cached']} already cached, {stats['decoded']} decoded, "
          f"{stats['failed']} failed in {stats['seconds']:.1f} s{rate}")
    for note in info["notes"]:
        print(f"- {note}")
    if info["skipped_total"]:
        print(f"skipped {info['skipped_total']} file(s):")
        for s in info["skipped"][:20]:
            print(f"  {s['file']}: {s['reason']}")
        if info["skipped_total"] > 20:
            print(f"  ... and {info['skipped_total'] - 20} more (--json lists up to 100)")
    print(f"cache: {stats['cache_dir']}")
    return 0


def cmd_runs(a) -> int:
    from dgl_engine.store import RunStore

    home = _check_home(a.home, must_exist=True)
    store = RunStore(home)
    store.mark_interrupted()
    records = store.list()
    rows = [
        {
            "run_id": r["run_id"], "status": r.get("status"), "created": r.get("created"),
            "dataset": (r.get("config") or {}).get("data", {}).get("dataset"),
            "methods": (r.get("config") or {}).get("methods"), "seconds": r.get("seconds"),
            "results": summarize(r.get("results") or {}),
        }
        for r in records
    ]
    if a.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no runs in {home}")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"] or 0))
        accs = ", ".join(f"{m} {v['acc'] * 100:.1f}%" for m, v in r["results"].items() if "acc" in v)
        print(f"{r['run_id']}  {when}  {r['status'] or '?':<11} {r['dataset'] or '?':<10} {accs}")
    return 0


def cmd_predict(a) -> int:
    from dgl_engine.predict import PredictError, load_predictor, predict_file
    from dgl_engine.store import RunStore

    store = RunStore(_check_home(a.home, must_exist=True))
    try:
        prediction = predict_file(load_predictor(store, a.run, a.method), a.file, image=a.image)
    except PredictError as e:
        raise UsageError(str(e)) from None
    print(json.dumps(prediction.to_dict()) if a.json else prediction.summary())
    return 0


def cmd_samples(a) -> int:
    from dgl_engine.samples import SamplesUnavailable, write_samples
    from dgl_engine.store import RunStore

    store = RunStore(_check_home(a.home, must_exist=True))
    try:
        paths = write_samples(store, a.run, a.out, a.n)
    except SamplesUnavailable as e:
        raise UsageError(str(e)) from None
    for path in paths:
        print(path)
    return 0


COMMANDS = {"train": cmd_train, "cache": cmd_cache, "runs": cmd_runs}
COMMANDS.update(predict=cmd_predict, samples=cmd_samples)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - errors from data loading etc. (MediaError, StoreError...)
        from dgl_engine.data.decode import MediaError
        from dgl_engine.store import StoreError

        if isinstance(e, (MediaError, StoreError, FileNotFoundError, NotADirectoryError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
