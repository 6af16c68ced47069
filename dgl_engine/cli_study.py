"""``python -m dgl_engine study``: one experiment over several seeds, optionally sweeping one setting.

    python -m dgl_engine study [train options] --seeds 0,1,2 [--sweep KEY=V1,V2,...] [--json]

It takes every ``train`` option, then trains each (seed, value) as a normal run in this process,
one after another, under one progress bar on stderr; at the end a table of mean ± sample std per
method (per swept value) and each method's paired difference to joint with its 95% bootstrap
interval over seeds. With ``--json`` stdout is one object:
``{"study_id", "status", "runs", "seeds", "sweep", "summary", "paired"}`` (see ``study.summarise``).
Every run is checked before the first is written: a bad seed list, sweep key or value exits 2
with one line and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

DEFAULT_SEEDS = "0,1,2"


def add_study_parser(sub) -> None:
    from dgl_engine.cli import add_train_options

    s = sub.add_parser("study", help="the same experiment over several seeds (and a swept setting): mean, std, paired CIs")
    add_train_options(s)
    s.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="S1,S2,...",
                   help=f"one run per seed (default {DEFAULT_SEEDS}); paired differences are taken seed by seed")
    s.add_argument("--sweep", default=None, metavar="KEY=V1,V2,...",
                   help="also vary one numeric setting or method hyperparameter, e.g. train.lr=0.01,0.03 or dgl.alpha=1,2,4")


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_study(a: argparse.Namespace) -> int:
    from dgl_engine import cli, ray_runner
    from dgl_engine.lifecycle import create_run, execute_run, prepare
    from dgl_engine.report import StudyProgress, format_study
    from dgl_engine.store import RunStore
    from dgl_engine.study import BASELINE, NO_SWEEP, Study, StudyStore, parse_seeds, parse_sweep, run_ids, study_status, summarise

    if hasattr(a, "cfg:seed"):
        raise cli.UsageError("--seed: a study sets each run's seed; list them with --seeds, e.g. --seeds 0,1,2")
    notices: list[str] = []
    base = cli.config_from_args(a, notices)
    study = Study(base, parse_seeds(a.seeds), parse_sweep(a.sweep, base) if a.sweep else None)
    points = study.points()
    home = cli._check_home(a.home, must_exist=True)
    prepared = [prepare(p.config, home) for p in points]  # every run is checked before anything is written
    for line in notices:
        _say(f"notice: {line}")
    for w in dict.fromkeys(w for p in prepared for w in p.warnings):
        _say(f"warning: {w}")
    if BASELINE not in base.methods:
        _say(f"note: no paired differences: they are taken against {BASELINE}, which is not among the methods")

    store, studies = RunStore(home), StudyStore(home)
    study_id = studies.new_id()
    studies.create(study_id, study, owner="cli", status="running")
    cluster = ray_runner.address()
    where = f"on the Ray cluster at {cluster}" if cluster else "here, one after another"
    shape = f"{len(study.seeds)} seeds" + (f" x {study.sweep.key} = {', '.join(study.labels)}" if study.sweep else "")
    _say(f"study {study_id}: {len(points)} runs ({shape}) train {where}")
    # SIGTERM behaves like Ctrl-C: the current run is recorded as cancelled and the study stops.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.time()
    progress = StudyProgress(len(points))
    try:
        for i, (point, p) in enumerate(zip(points, prepared)):
            run_id = create_run(store, p, status="running", study=study_id)
            studies.set_run(study_id, i, run_id)
            progress.start(f"seed {point.seed}" + (f", {study.sweep.key}={point.value}" if point.value != NO_SWEEP else ""))
            run = ray_runner.run_on_ray if cluster else execute_run
            outcome = run(p, store, run_id, [progress])
            progress.end_run()
            if outcome.status == "cancelled":
                break
    except KeyboardInterrupt:
        pass
    finally:
        progress.close()
        signal.signal(signal.SIGTERM, previous)

    record = studies.read(study_id)
    runs = {rid: store.read(rid) for rid in run_ids(record)}
    status = study_status(record, lambda rid: runs[rid].get("status"))
    studies.update(study_id, status=status)
    result = summarise(record, runs)
    finished = sum(r.get("status") == "finished" for r in runs.values())
    if a.json:
        print(json.dumps({"study_id": study_id, "status": status, "runs": run_ids(record), "seeds": list(study.seeds),
                          "sweep": study.sweep.to_dict() if study.sweep else None, **result}))
    else:
        print(format_study(result, study.sweep.key if study.sweep else None))
        print(f"\nstudy {study_id}: {status}, {finished} of {len(points)} runs finished in {time.time() - t0:.0f} s; "
              f"stored in {studies.path(study_id)}")
    return 0 if status == "finished" else 1
