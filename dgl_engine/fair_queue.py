"""The queue of runs waiting for a worker: fair between owners, with limits.

Runs leave in round-robin order between owners (browser sessions, the CLI), not first come first
served: a student who queues four runs delays each classmate by at most one of them. At most
``limit`` runs wait in all and ``per_owner`` per owner; past that ``push`` raises QueueFull.

The runs of a study are pushed as ``bulk``: they take their owner's turns like any other run but
do not count against those limits (a study is bounded by its own size, ``study.MAX_RUNS``, and
all bulk runs together by ``bulk_limit``), so a session can queue a 15-run study and still start
a single run beside it.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from dgl_engine.errors import ConfigError

QUEUE_LIMIT = 32
PER_OWNER_LIMIT = 4
BULK_LIMIT = 256


class QueueFull(ConfigError):
    """The queue (or this owner's share of it) is full; the message says how to go on."""


class FairQueue:
    def __init__(self, limit: int = QUEUE_LIMIT, per_owner: int = PER_OWNER_LIMIT, bulk_limit: int = BULK_LIMIT):
        self.limit, self.per_owner, self.bulk_limit = limit, per_owner, bulk_limit
        self._waiting: OrderedDict[str, deque[str]] = OrderedDict()  # owner -> run ids; order = whose turn
        self._bulk: set[str] = set()  # waiting runs that belong to a study

    def __len__(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def _counted(self, runs=None) -> int:
        runs = [r for q in self._waiting.values() for r in q] if runs is None else runs
        return sum(1 for r in runs if r not in self._bulk)

    def check(self, owner: str) -> None:
        """QueueFull if ``owner`` may not queue another run now."""
        if self._counted() >= self.limit:
            raise QueueFull(f"the queue is full ({self.limit} runs waiting); try again when some have started")
        if self._counted(self._waiting.get(owner, ())) >= self.per_owner:
            raise QueueFull(f"you already have {self.per_owner} runs waiting, the most one session may queue; "
                            "wait for one to start or stop one")

    def check_bulk(self, n: int) -> None:
        """QueueFull if a study of ``n`` runs may not be queued now."""
        if len(self._bulk) + n > self.bulk_limit:
            raise QueueFull(f"{len(self._bulk)} study runs are waiting already; a study of {n} more would pass the "
                            f"limit of {self.bulk_limit}: try again when some have started")

    def push(self, owner: str, run_id: str, bulk: bool = False) -> None:
        self.check_bulk(1) if bulk else self.check(owner)
        self._waiting.setdefault(owner, deque()).append(run_id)
        if bulk:
            self._bulk.add(run_id)

    def pop(self) -> str | None:
        """The next run: the oldest of the owner whose turn it is; that owner goes to the back."""
        for owner in list(self._waiting):
            runs = self._waiting.pop(owner)
            if runs:
                run_id = runs.popleft()
                self._bulk.discard(run_id)
                if runs:
                    self._waiting[owner] = runs  # re-inserted last: the next owner's turn
                return run_id
        return None

    def remove(self, run_id: str) -> bool:
        for owner, runs in list(self._waiting.items()):
            if run_id in runs:
                runs.remove(run_id)
                self._bulk.discard(run_id)
                if not runs:
                    del self._waiting[owner]
                return True
        return False

    def order(self) -> list[str]:
        """Every waiting run in the order it will start (if nothing else is queued meanwhile)."""
        queues = [(owner, list(runs)) for owner, runs in self._waiting.items()]
        out, depth = [], 0
        while any(depth < len(r) for _, r in queues):
            out += [r[depth] for _, r in queues if depth < len(r)]
            depth += 1
        return out

    def position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if it is not waiting."""
        order = self.order()
        return order.index(run_id) + 1 if run_id in order else None
