"""App state: the engine singleton, which run a page shows, and the events a session has seen.

The engine's worker thread never calls Streamlit; pages poll ``engine.snapshot(run_id, since=offset)``
and keep what they have seen in ``st.session_state`` (an ``EventLog`` per run), so each poll
only carries the new events.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass, field

import streamlit as st

from app import tables
from dgl_engine.api import TERMINAL, Engine, RunSnapshot

LIVE = ("queued", "running")
PAGES = {  # page files, relative to app/main.py (the entry point)
    "experiment": "pages/experiment.py",
    "live": "pages/live.py",
    "results": "pages/results.py",
    "why": "pages/why.py",
    "studies": "pages/studies.py",
    "compare": "pages/compare.py",
}


# ----- routing ---------------------------------------------------------------------------------
def ensure_router() -> None:
    """Make app/main.py the router even when a fresh server's first request is a page URL.

    Until some session calls ``st.navigation``, Streamlit serves app/pages/*.py in its old
    pages-folder mode: the page runs without main.py (no page config, a file-name sidebar).
    Leave that mode (exactly what ``st.navigation`` does) and rerun, so main.py routes to the
    same page. A no-op under AppTest and once main.py has run.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        st.rerun()


# ----- the engine: one per server process -----------------------------------------------------
def home() -> str:
    return os.environ.get("DGL_LAB_HOME", "runs")


@st.cache_resource(show_spinner=False)
def _engine_for(home: str) -> Engine:
    return Engine(home=home)


def get_engine() -> Engine:
    """The server's engine (shared by every session and tab), for the current DGL_LAB_HOME."""
    return _engine_for(home())


def safely(what: str, fn, *args, default=None, **kwargs):
    """Call the engine; on any error show it in red and return ``default`` (never crash a page)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a page must survive whatever the engine says
        st.error(f"Could not {what}: {exc}")
        return default


def runs_or_stop(engine) -> list[dict]:
    """Every run, newest first; with none, say so, offer the Experiment page and stop the page."""
    runs = safely("list the runs", engine.runs, default=[])
    if not runs:
        st.info("No runs yet. Start an experiment first.")
        link("experiment", "Go to Experiment", icon=":material/tune:")
        st.stop()
    return runs


# ----- who is asking: the browser session's owner token, and the instructor's admin token ------
def owner() -> str:
    """This browser session's owner token, kept in the URL (?session=) so a reload keeps it and
    the session keeps its runs. There is no login: serve the app on a lab network or behind an
    authenticating proxy (README, "Serve a lab")."""
    token = st.query_params.get("session") or st.session_state.get("owner")
    if not token or not isinstance(token, str) or len(token) > 64:
        token = secrets.token_urlsafe(12)
    st.session_state["owner"] = token
    if st.query_params.get("session") != token:
        st.query_params["session"] = token
    return token


def is_admin() -> bool:
    """True once this session opened ?admin=TOKEN with the server's DGL_LAB_ADMIN_TOKEN."""
    expected = os.environ.get("DGL_LAB_ADMIN_TOKEN", "")
    given = st.query_params.get("admin")
    if expected and given:
        st.session_state["admin"] = hmac.compare_digest(str(given), expected)
    return bool(expected) and bool(st.session_state.get("admin"))


def may_change(run_owner: str) -> bool:
    """Whether this session may stop or delete a run of ``run_owner``."""
    return not run_owner or run_owner == owner() or is_admin()


# ----- which run a page shows -----------------------------------------------------------------
def default_run_id(runs: list[dict]) -> str | None:
    """The newest running or queued run, else the newest run (``runs`` is newest first)."""
    live = [r for r in runs if r.get("status") in LIVE]
    running = [r for r in live if r.get("status") == "running"]
    pick = (running or live or runs or [None])[0]
    return pick["run_id"] if pick else None


def current_run_id(engine: Engine) -> str | None:
    """The run to show: the URL's ?run=, else this session's last, else the default."""
    runs = engine.runs()
    ids = {r["run_id"] for r in runs}
    for candidate in (st.query_params.get("run"), st.session_state.get("run_id")):
        if candidate in ids:
            return candidate
    return default_run_id(runs)


def watch(run_id: str) -> None:
    """Remember the run in this session and in the URL, so a reload keeps watching it."""
    st.session_state["run_id"] = run_id
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


def run_label(record: dict) -> str:
    """'joint vs dgl on synthetic (default) · finished · 2 Dec 14:05' for select boxes and legends:
    a run is known by its name, its dataset, its status and when it ran (the id only when it
    has no name)."""
    cfg = record.get("config") or {}
    name = cfg.get("name") or f"{', '.join(cfg.get('methods', []))} ({record.get('run_id', '?')})"
    data = tables.data_label(cfg.get("data") or {})
    shown = name if data.split(" (")[0] in name else f"{name} · {data}"
    created = record.get("created")
    when = time.strftime("%d %b %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else "?"
    return f"{shown} · {record.get('status', '?')} · {when}"


# ----- events seen so far, per run ------------------------------------------------------------
@dataclass
class EventLog:
    """Events of one run accumulated across polls."""

    events: list[dict] = field(default_factory=list)
    offset: int = 0

    def update(self, engine: Engine, run_id: str) -> RunSnapshot:
        snap = engine.snapshot(run_id, since=self.offset)
        if snap.next_offset < self.offset:  # history shorter than what we saw: start again
            self.events, self.offset = [], 0
            snap = engine.snapshot(run_id, since=0)
        self.events.extend(snap.events)
        self.offset = snap.next_offset
        return snap


def poll(engine: Engine, run_id: str) -> tuple[RunSnapshot, list[dict]]:
    """The run's snapshot and every event so far (only new ones cross from the engine)."""
    logs: dict[str, EventLog] = st.session_state.setdefault("event_logs", {})
    log = logs.setdefault(run_id, EventLog())
    snap = log.update(engine, run_id)
    return snap, log.events


def forget(run_id: str) -> None:
    st.session_state.get("event_logs", {}).pop(run_id, None)
    if st.session_state.get("run_id") == run_id:
        del st.session_state["run_id"]
    if st.query_params.get("run") == run_id:
        del st.query_params["run"]


# ----- words for a run's state ----------------------------------------------------------------
def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def status_words(snap: RunSnapshot) -> tuple[str, str]:
    """(kind, sentence): kind is info | success | error | warning, for the matching st call."""
    s = snap.status
    if s == "queued":
        if snap.queue_position and snap.queue_position > 1 or (snap.start_in_s or 0) > 5:
            ahead = (snap.queue_position or 1) - 1
            wait = f"; it should start in about {_duration(snap.start_in_s)}" if snap.start_in_s else ""
            return "info", (f"Queued: {ahead} run{'s' if ahead != 1 else ''} ahead of it in the queue, "
                            f"and every worker is busy{wait}.")
        return "info", "Queued: starting now."
    if s == "running":
        phase = {"starting": "starting", "data": "loading the data", "train": "training",
                 "test": "testing: confusion matrices and linear probes", "save": "saving the models"}.get(snap.phase, snap.phase)
        return "info", f"Running: {phase}."
    if s == "finished":
        return "success", f"Finished in {_duration(snap.elapsed_s)}."
    if s == "failed":
        return "error", f"Failed: {snap.error or 'no reason recorded'}"
    if s == "cancelled":
        return "warning", "Cancelled: stopped before it finished (curves so far are kept)."
    if s == "interrupted":
        return "warning", f"Interrupted: {snap.error or 'the server stopped while it ran'}."
    return "info", s


def run_summary(snap: RunSnapshot) -> str:
    """'run <id> · synthetic (default) · 4 methods · 6 epochs · seed 0 · tiny encoder, concat fusion'."""
    c = snap.config
    data, train, model = c.get("data", {}), c.get("train", {}), c.get("model", {})
    return (f"run {snap.run_id} · {tables.data_label(data)} · {len(c.get('methods', []))} methods · "
            f"{train.get('epochs', '?')} epochs · seed {c.get('seed', '?')} · {model.get('encoder', '?')} encoder, "
            f"{model.get('fusion', '?')} fusion")


def progress_words(snap: RunSnapshot) -> str:
    if snap.status == "queued":
        return "waiting in the queue"
    if not snap.total_steps:
        if snap.done:
            return "ended before training started"
        return snap.phase_message or "preparing ..."
    epochs = snap.config.get("train", {}).get("epochs", "?")
    text = f"step {snap.step} / {snap.total_steps} · epoch {snap.epoch:.1f} / {epochs} · {_duration(snap.elapsed_s)} elapsed"
    if snap.status == "running" and snap.eta_s is not None:
        text += f" · about {_duration(snap.eta_s)} left"
    return text


def is_done(status: str) -> bool:
    return status in TERMINAL


# ----- links between pages (they also work when a page runs alone under AppTest) --------------
def go(page: str, run_id: str | None = None, study_id: str | None = None) -> None:
    """Open another page (keeping this session's token and the run or study), as Start does
    with Live. A page run alone (AppTest) has no navigation: then it stays where it is."""
    from streamlit.errors import StreamlitAPIException

    params = {"session": owner(), **({"run": run_id} if run_id else {}), **({"study": study_id} if study_id else {})}
    try:
        st.switch_page(PAGES[page], query_params=params)
    except StreamlitAPIException:
        pass


def link(page: str, label: str, icon: str | None = None, run_id: str | None = None, study_id: str | None = None,
         **query: str) -> None:
    try:
        params = {"session": owner(), **({"run": run_id} if run_id else {}), **({"study": study_id} if study_id else {}),
                  **{k: v for k, v in query.items() if v}}
        st.page_link(PAGES[page], label=label, icon=icon, query_params=params)
    except Exception:  # noqa: BLE001 - no navigation (a page run alone): say where to go instead
        st.markdown(f"{label}: open the **{page.capitalize()}** page.")
