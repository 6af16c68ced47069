"""Live's figures, rebuilt only when what they draw has changed.

Live polls about once a second, on the same CPU that trains the run. Building one of its plotly
figures costs the server 50-250 ms and drawing it costs the browser about as much again; redrawing
every chart on every poll made a 34 s run take 150 s on a 2-core machine. Each figure reads a few
event kinds (validation points, gradient diagnostics, steps), so it is rebuilt only when the
number of those events changes, or its arguments do. Step-level figures (losses, a method's own
signals) change on every step: while the run trains they are rebuilt at most every
``STEP_FIGURE_EVERY_S`` seconds. Per session, the figures of the run on view only: bounded.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable, Sequence

import plotly.graph_objects as go
import streamlit as st

STEP_FIGURE_EVERY_S = 5.0


def figure(run_id: str, key: str, reads: Sequence[str], events: Sequence[dict], build: Callable[..., go.Figure], *args,
           done: bool = True) -> go.Figure:
    """``build(events, *args)``, or the figure built last time for ``key`` if the count of the
    event kinds in ``reads`` and ``args`` are what they were. With ``"step"`` in ``reads`` and the
    run not ``done``, the count is only looked at every ``STEP_FIGURE_EVERY_S`` seconds."""
    counts = Counter(e.get("type") for e in events)
    seen = tuple(counts[kind] for kind in reads)
    held = st.session_state.get("live_figures")
    if held is None or held[0] != run_id:  # another run: forget the last one's figures
        held = st.session_state["live_figures"] = (run_id, {})
    cache = held[1]
    sig = (seen, repr(args), done)
    last = cache.get(key)
    if last is not None:
        last_sig, built_at, fig = last
        fresh = last_sig == sig
        if not fresh and "step" in reads and not done and last_sig[1:] == sig[1:]:
            fresh = time.monotonic() - built_at < STEP_FIGURE_EVERY_S
        if fresh:
            return fig
    fig = build(events, *args)
    cache[key] = (sig, time.monotonic(), fig)
    return fig
