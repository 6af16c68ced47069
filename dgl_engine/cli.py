"""Command line: ``python -m dgl_engine train|study|cache|runs|methods|predict|samples``.

Contract other tools depend on: progress (tqdm) on stderr; with ``--json`` stdout is exactly
one strict JSON object (no NaN or Infinity: ``dump_json``); bad arguments exit with status 2 and
one line naming what is valid, and write nothing; anything unexpected exits with status 1 and
one line ``error: ...`` (the traceback only with ``DGL_LAB_DEBUG=1``), never a traceback. ``train``'s and ``cache``'s options are generated from the schema (``config.py``), so
the CLI can set every setting the Experiment form can.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from dgl_engine.cli_options import _add_schema_options, _positive_int, _typed
from dgl_engine.cli_study import add_study_parser, cmd_study
from dgl_engine.config import DataConfig, ExperimentConfig
from dgl_engine.errors import ConfigError, unknown
from dgl_engine.report import SUMMARY_KEYS, TqdmObserver, dump_json, format_table, summarize
from dgl_engine.schema import leaves, override

__all__ = ["SUMMARY_KEYS", "add_train_options", "build_parser", "config_from_args", "main"]

# Shortcuts kept from before methods owned their hyperparameters: flag -> (method, name).
PARAM_SHORTCUTS = {"--alpha": ("dgl", "alpha"), "--ogm-alpha": ("ogm-ge", "alpha")}
CACHE_SKIP = ("regime", "synthetic.")  # the cache command reads real data only


class UsageError(Exception):
    """Bad arguments: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors -> one line, exit 2
        raise UsageError(message)


def _add_legacy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None, help="old name: --regime for synthetic data, --preprocessing for real data")


def add_train_options(t: argparse.ArgumentParser) -> None:
    """Every setting of an experiment (from the schema), method hyperparameters, --home, --json."""
    _add_schema_options(t, leaves(ExperimentConfig), "cfg:")
    t.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="a method's hyperparameter, e.g. dgl.alpha=4 (repeatable; see `methods`)")
    for flag, (method, name) in PARAM_SHORTCUTS.items():
        t.add_argument(flag, dest=f"short:{flag}", default=None, metavar="X", help=f"shortcut for --param {method}.{name}=X")
    _add_legacy(t)
    t.add_argument("--home", default=None, help="run store folder (default $DGL_LAB_HOME or ./runs)")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dgl_engine", description="DGL Lab: modality imbalance experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    add_train_options(sub.add_parser("train", help="train methods in lockstep and print test metrics"))
    add_study_parser(sub)

    c = sub.add_parser("cache", help="decode a real dataset's clips into the feature cache (resumable)")
    _add_schema_options(c, [x for x in leaves(DataConfig) if not x.path.startswith(CACHE_SKIP)], "data:")
    _add_legacy(c)
    seed = next(x for x in leaves(ExperimentConfig) if x.path == "seed")
    c.add_argument("--seed", default=0, type=_typed(seed), help="seeds the subset's order (as in train)")
    c.add_argument("--workers", type=_positive_int("--workers"), default=None, help="decoding threads (default: CPUs, at most 8)")
    c.add_argument("--home", default=None, help="run store folder holding .cache/ (default $DGL_LAB_HOME or ./runs)")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    r = sub.add_parser("runs", help="list stored runs")
    r.add_argument("--home", default=None)
    r.add_argument("--json", action="store_true")

    m = sub.add_parser("methods", help="list the training methods, what each trains, and their hyperparameters")
    m.add_argument("--json", action="store_true", help="print one JSON object on stdout")

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


# ----------------------------------------------------------------------------- args -> config

def _given(a: argparse.Namespace, schema_leaves, prefix: str) -> dict[str, object]:
    """{path: value} for the options the user gave (already parsed and checked by ``_typed``)."""
    return {leaf.path: getattr(a, prefix + leaf.path) for leaf in schema_leaves if hasattr(a, prefix + leaf.path)}


def _legacy_preset(a: argparse.Namespace, values: dict, path_prefix: str, notices: list[str]) -> None:
    """--preset, the old name of two things: the synthetic regime and the preprocessing."""
    if a.preset is None:
        return
    synthetic = values.get(f"{path_prefix}dataset", "synthetic") == "synthetic"
    new = "regime" if synthetic else "preprocessing"
    values.setdefault(f"{path_prefix}{new}", a.preset)
    notices.append(f"--preset is now --{new} ({'synthetic data' if synthetic else 'real data'}); "
                   f"read as --{new} {a.preset}")


def config_from_args(a: argparse.Namespace, notices: list[str] | None = None) -> ExperimentConfig:
    """The ExperimentConfig a ``train`` command line describes (checked later by ``prepare``)."""
    from dgl_engine.data.synthetic import REGIMES

    notices = [] if notices is None else notices
    values = _given(a, leaves(ExperimentConfig), "cfg:")
    _legacy_preset(a, values, "data.", notices)
    base = ExperimentConfig()
    if values.get("data.dataset", "synthetic") == "synthetic":
        regime = values.get("data.regime", "default")
        if regime not in REGIMES:
            raise unknown("regime", regime, REGIMES)
        base = override(base, {"data.synthetic": REGIMES[regime]})  # then the user's own knobs on top
    config = override(base, values)
    from dgl_engine.protocols import with_given  # flags given beside --protocol keep their value

    return with_given(override(config, {"method_params": _method_params(a, config.methods, notices)}), values)


def _method_params(a: argparse.Namespace, methods: tuple[str, ...], notices: list[str]) -> dict:
    params: dict[str, dict[str, float]] = {}
    for flag, (method, name) in PARAM_SHORTCUTS.items():
        text = getattr(a, f"short:{flag}")
        if text is None:
            continue
        if method not in methods:  # as before: a shortcut for a method not chosen is ignored
            notices.append(f"{flag} ignored: {method} is not among the chosen methods")
            continue
        params.setdefault(method, {})[name] = _number(flag, text)
    for item in a.param:
        key, sep, text = item.partition("=")
        method, dot, name = key.strip().rpartition(".")
        if not sep or not dot or not method or not name:
            raise ConfigError(f"--param {item!r}: expected METHOD.NAME=VALUE, e.g. dgl.alpha=4")
        params.setdefault(method, {})[name] = _number(f"--param {key.strip()}", text)
    return params


def _number(what: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number, got {text!r}") from None


def _check_home(home: str | None, must_exist: bool) -> Path:
    from dgl_engine.store import default_home

    path = Path(home) if home is not None else default_home()
    if home is not None and must_exist and not path.is_dir():
        raise UsageError(f"--home {home}: no such folder (create it, or omit --home to use ./runs)")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--home {path}: not a folder")
    return path


# ----------------------------------------------------------------------------- commands

def cmd_train(a) -> int:
    from dgl_engine import ray_runner
    from dgl_engine.lifecycle import create_run, execute_run, prepare
    from dgl_engine.store import RunStore

    notices: list[str] = []
    home = _check_home(a.home, must_exist=True)
    prepared = prepare(config_from_args(a, notices), home)
    for line in notices:
        print(f"notice: {line}", file=sys.stderr)
    for w in prepared.warnings:
        print(f"warning: {w}", file=sys.stderr)
    store = RunStore(home)
    run_id = create_run(store, prepared, status="running", owner="cli")  # the CLI owns its runs
    observer = TqdmObserver()
    # SIGTERM behaves like Ctrl-C: the run is recorded as cancelled, not left "running".
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cluster = ray_runner.address()
    print(f"run {run_id} " + (f"goes to the Ray cluster at {cluster} ({ray_runner.ENV})" if cluster else "trains here"),
          file=sys.stderr)
    try:
        if cluster:
            outcome = ray_runner.run_on_ray(prepared, store, run_id, [observer])
        else:
            outcome = execute_run(prepared, store, run_id, [observer])
    finally:
        observer.close()
    if a.json:
        out = {"run_id": run_id, "status": outcome.status, "seconds": outcome.seconds, "methods": summarize(outcome.results)}
        if outcome.error:
            out["error"] = outcome.error
        print(dump_json(out))
    else:
        if outcome.results:
            print(format_table(outcome.results))
        print(f"\nrun {run_id}: {outcome.status} in {outcome.seconds:.1f} s"
              + (f" ({outcome.error})" if outcome.error else "") + f"; stored in {home / run_id}")
    return 0 if outcome.status == "finished" else 1


def cmd_cache(a) -> int:
    from dgl_engine.data.registry import cache_features, check_root, describe

    cache_leaves = [x for x in leaves(DataConfig) if not x.path.startswith(CACHE_SKIP)]
    notices: list[str] = []
    values = _given(a, cache_leaves, "data:")
    if "dataset" not in values:
        raise UsageError("the following arguments are required: --dataset")
    if values["dataset"] == "synthetic":
        raise UsageError("synthetic data is generated, not cached; cache takes a real dataset: cremad, folder, kinetics-sounds, ave, avmnist")
    _legacy_preset(a, values, "", notices)
    data = override(DataConfig(), values)
    seed = a.seed
    check_root(data, seed)
    home = _check_home(a.home, must_exist=False)
    for line in notices:
        print(f"notice: {line}", file=sys.stderr)
    observer = TqdmObserver()
    try:
        stats = cache_features(data, seed=seed, home=home, progress=lambda d, t: observer._caching(d, t), workers=a.workers)
    except KeyboardInterrupt:
        print("interrupted: the clips decoded so far are kept; run the same command again to resume", file=sys.stderr)
        return 1
    finally:
        observer.close()
    info = describe(data, seed, home=home)
    speed = stats["decoded"] + stats["failed"]
    out = {**stats, "clips_per_s": round(speed / stats["seconds"], 2) if speed and stats["seconds"] else None,
           "layout": info["layout"], "classes": info["classes"], "counts": info["counts"],
           "skipped": info["skipped"], "skipped_total": info["skipped_total"], "notes": info["notes"]}
    if a.json:
        print(dump_json(out))
        return 0
    per_split = ", ".join(f"{s} {sum(c.values())}" for s, c in info["counts"].items())
    print(f"{info['layout']}\n{stats['clips']} clips ({per_split}) in {len(info['classes'])} classes at {stats['root']}")
    rate = f" ({out['clips_per_s']} clips/s)" if out["clips_per_s"] else ""
    print(f"features ({data.preprocessing}): {stats['cached']} already cached, {stats['decoded']} decoded, "
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
    rows = [
        {
            "run_id": r["run_id"], "status": r.get("status"), "created": r.get("created"),
            "dataset": (r.get("config") or {}).get("data", {}).get("dataset"),
            "methods": (r.get("config") or {}).get("methods"), "seconds": r.get("seconds"),
            "results": summarize(r.get("results") or {}), "study": r.get("study"),
            **({"error": r["error"]} if r.get("status") == "damaged" else {}),
        }
        for r in store.list()
    ]
    if a.json:
        print(dump_json(rows))
        return 0
    if not rows:
        print(f"no runs in {home}")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"] or 0))
        accs = ", ".join(f"{m} {v['acc'] * 100:.1f}%" for m, v in r["results"].items() if "acc" in v)
        why = f"  {r['error']}" if r["status"] == "damaged" else ""
        print(f"{r['run_id']}  {when}  {r['status'] or '?':<11} {r['dataset'] or '?':<10} {accs}{why}")
    return 0


def cmd_methods(a) -> int:
    from dgl_engine.methods import describe_methods

    methods = describe_methods()
    if a.json:
        print(dump_json(methods))
        return 0
    for name, m in methods.items():
        print(f"{name} ({' + '.join(m['modalities'])}): {m['routing']}")
        for p, spec in m["params"].items():
            print(f"    --param {name}.{p}=X  default {spec['default']:g}, range [{spec['min']:g}, {spec['max']:g}]: {spec['help']}")
    return 0


def cmd_predict(a) -> int:
    from dgl_engine.predict import PredictError, load_predictor, predict_file
    from dgl_engine.store import RunStore

    from dgl_engine.data.decode import probe

    store = RunStore(_check_home(a.home, must_exist=True))
    for path in (a.file, a.image):  # a file refused by its header costs no model loading
        if path is not None:
            probe(path)
    try:
        prediction = predict_file(load_predictor(store, a.run, a.method), a.file, image=a.image)
    except PredictError as e:
        raise UsageError(str(e)) from None
    print(dump_json(prediction.to_dict()) if a.json else prediction.summary())
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


COMMANDS = {"train": cmd_train, "study": cmd_study, "cache": cmd_cache, "runs": cmd_runs, "methods": cmd_methods,
            "predict": cmd_predict, "samples": cmd_samples}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error is one line; a traceback only when asked for
        from dgl_engine.data.decode import MediaError
        from dgl_engine.lifecycle import describe_error
        from dgl_engine.store import StoreError

        if isinstance(e, (UsageError, ConfigError, MediaError, StoreError, FileNotFoundError, NotADirectoryError)):
            print("error: " + (" ".join(str(e).split()) or type(e).__name__), file=sys.stderr)
            return 2
        if os.environ.get("DGL_LAB_DEBUG") == "1":
            raise
        print(f"error: {describe_error(e)} (set DGL_LAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
