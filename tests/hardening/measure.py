"""Run ``python -m dgl_engine predict`` on many files, measuring each one's time and peak memory.

    python tests/hardening/measure.py --home H --run R --method M FILE ...   # one JSON line per file

Starting Python and importing torch takes seconds, which would make a corpus of files take
minutes. So this process imports the CLI once (with one torch thread, so that forking is
safe) and runs the CLI's ``main(["predict", ...])`` for each file in a forked child: the child
is the CLI process minus its start-up. For each file it prints {"file", "rc", "seconds" (the
child's wall time), "cpu_seconds" (its user + system time: what a busy machine changes least),
"max_rss" (bytes: the child's peak resident memory, from wait4, which includes what it
inherited), "stdout", "stderr"}. A child that runs past --limit-s is killed
(rc -9). Used by tests/hardening/test_hostile.py and benchmarks/bench_limits.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _child(argv: list[str], out: str, err: str) -> None:
    """In the forked child: stdout/stderr to files, the CLI's exit status as ours."""
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    rc = 1
    try:
        from dgl_engine.cli import main

        rc = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc if isinstance(rc, int) else 1)


def measure(argv: list[str], limit_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dgl-measure-") as tmp:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child(argv, out, err)
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - t0 > limit_s:
                os.kill(pid, signal.SIGKILL)
                done, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.005)
        seconds = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        return {"rc": rc, "seconds": round(seconds, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                "max_rss": usage.ru_maxrss * 1024,
                "stdout": Path(out).read_text(errors="replace") if os.path.exists(out) else "",
                "stderr": Path(err).read_text(errors="replace") if os.path.exists(err) else ""}


# Run by a small Python (-S: no site packages) that forks and execs the command: a child's
# peak memory counts what it inherited before exec, so the command must not be forked from a
# large process (a pytest session of a gigabyte would be counted as the command's).
_LAUNCHER = """
import json, os, sys, time
report, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    if time.perf_counter() - t0 > limit:
        os.kill(pid, 9)
        done, status, usage = os.wait4(pid, 0)
        break
    time.sleep(0.005)
seconds = time.perf_counter() - t0
with open(report, "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "seconds": round(seconds, 3),
               "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3), "max_rss": usage.ru_maxrss * 1024}, f)
"""


def run_measured(cmd: list[str], *, cwd=None, env=None, limit_s: float = 120.0) -> dict:
    """A whole command in a fresh process (start-up included), measured the same way:
    {"rc", "seconds", "cpu_seconds", "max_rss", "stdout", "stderr"}, through ``_LAUNCHER``."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="dgl-measure-") as tmp:
        out, err, report = Path(tmp, "out"), Path(tmp, "err"), Path(tmp, "report.json")
        with open(out, "wb") as fo, open(err, "wb") as fe:
            subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(report), str(limit_s), *cmd],
                           cwd=cwd, env=env, stdout=fo, stderr=fe, timeout=limit_s + 30)
        result = json.loads(report.read_text())
        return {**result, "stdout": out.read_text(errors="replace"), "stderr": err.read_text(errors="replace")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--home", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--method", default="dgl")
    p.add_argument("--limit-s", type=float, default=60.0)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)  # no OpenMP pool exists when we fork: the children stay safe
    import dgl_engine.cli  # noqa: F401  (everything the CLI imports, once)
    import dgl_engine.predict  # noqa: F401
    from dgl_engine import compat  # noqa: F401  (before torchvision)
    import torchvision.models  # noqa: F401  (ResNet-18 models import it when built)

    for f in a.files:
        argv = ["predict", "--home", a.home, "--run", a.run, "--method", a.method, "--json", f]
        print(json.dumps({"file": os.path.basename(f), **measure(argv, a.limit_s)}), flush=True)


if __name__ == "__main__":
    main()
