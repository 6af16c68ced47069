"""A run as the server holds it while it is queued or training, and the frozen snapshot pages poll.

The server keeps a bounded history per run: every eval, diagnostics, test and phase event, but
step events thinned (every other one dropped, oldest first, past ``MAX_EVENTS``), so a long run
costs the server and each poll a bounded amount; the full history stays in metrics.jsonl.
Event offsets (``since``, ``next_offset``) count every event ever emitted, so thinning never
makes a page miss or repeat an event.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from dgl_engine.store import TERMINAL

MAX_EVENTS = 6000  # held per live run; step events beyond it are thinned


@dataclass(frozen=True)
class RunSnapshot:
    """What a page needs to draw a run, frozen at one instant."""

    run_id: str
    status: str  # queued | running | finished | failed | cancelled | interrupted
    config: dict
    phase: str
    step: int
    total_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    error: str | None
    warnings: tuple[str, ...]
    results: dict  # method -> test metrics (once finished)
    events: tuple[dict, ...]  # events emitted at or after ``since`` (step events thinned)
    next_offset: int  # pass as ``since`` to get only newer events
    created: float
    queue_position: int | None = None  # 1 = starts next
    phase_message: str = ""  # e.g. "caching features: 120/744 clips"
    phase_done: int = 0
    phase_total: int = 0
    owner: str = ""
    start_in_s: float | None = None  # queued runs: about how long until a worker takes it

    @property
    def progress(self) -> float:
        if self.status == "finished":
            return 1.0
        if not self.total_steps and self.phase_total:  # before training: e.g. feature caching
            return self.phase_done / self.phase_total
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def thin_steps(seqs: list[int], events: list[dict]) -> tuple[list[int], list[dict]]:
    """Drop every other step event (all other kinds are kept)."""
    keep_s, keep_e, odd = [], [], False
    for s, e in zip(seqs, events):
        if e.get("type") == "step":
            odd = not odd
            if not odd:
                continue
        keep_s.append(s)
        keep_e.append(e)
    return keep_s, keep_e


@dataclass
class LiveRun:
    """A queued or running run in the server (mutated only under the engine's lock)."""

    run_id: str
    prepared: object  # lifecycle.Prepared
    owner: str = ""
    status: str = "queued"
    phase: str = "queued"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    emitted: int = 0  # events ever received (the next event's offset)
    created: float = field(default_factory=time.time)
    cancel_requested: bool = False
    phase_message: str = ""
    phase_done: int = 0
    phase_total: int = 0
    estimate_s: float = 0.0  # how long the whole run should take
    study: str = ""  # the study it belongs to, if any

    def apply(self, d: dict) -> None:
        self.seqs.append(self.emitted)
        self.events.append(d)
        self.emitted += 1
        if len(self.events) > MAX_EVENTS:
            self.seqs, self.events = thin_steps(self.seqs, self.events)
        kind = d.get("type")
        if kind == "progress":
            self.step, self.total_steps, self.epoch = d["step"], d["total_steps"], d["epoch"]
            self.elapsed_s, self.eta_s = d["elapsed_s"], d["eta_s"]
        elif kind == "phase":
            self.phase, self.phase_message = d["phase"], d.get("message", "")
            self.phase_done, self.phase_total = d.get("done", 0), d.get("total", 0)
        elif kind == "test":
            self.results[d["method"]] = d["metrics"]

    def remaining_s(self) -> float:
        """About how long until this run ends (its own ETA once training, else the estimate)."""
        if self.status == "running" and self.eta_s is not None:
            return float(self.eta_s)
        return self.estimate_s

    def snapshot(self, since: int, position: int | None, start_in_s: float | None) -> RunSnapshot:
        i = bisect.bisect_left(self.seqs, since)
        return RunSnapshot(
            self.run_id, self.status, self.prepared.config.to_dict(), self.phase, self.step, self.total_steps,
            self.epoch, self.elapsed_s, self.eta_s, self.error, tuple(self.warnings), dict(self.results),
            tuple(self.events[i:]), self.emitted, self.created, position, self.phase_message,
            self.phase_done, self.phase_total, self.owner, start_in_s,
        )
