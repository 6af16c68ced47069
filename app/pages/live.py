"""Live: the running (or most recent) experiment: its progress every second, its charts every few."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

from app import charts, live_figures, method_charts, show, state, tables

state.ensure_router()
engine = state.get_engine()
st.title("Live")
runs = state.runs_or_stop(engine)

labels = {r["run_id"]: state.run_label(r) for r in runs}
current = state.current_run_id(engine)
run_id = st.selectbox("Run", list(labels), index=list(labels).index(current) if current in labels else 0,
                      format_func=labels.get, key=f"live_run_{current}")
state.watch(run_id)
status = next(r["status"] for r in runs if r["run_id"] == run_id)
polling = not state.is_done(status)


# Words and the progress bar follow the run every second; charts every CHARTS_EVERY_S seconds
# (and only those whose events changed, ``live_figures``): redrawing them is what costs the
# browser and the server CPU that the run itself needs.
CHARTS_EVERY_S = 3.0


@st.fragment(run_every=1.0 if polling else None)
def progress_view(run_id: str, polling: bool) -> None:
    try:
        snap, _ = state.poll(engine, run_id)
    except Exception as exc:  # noqa: BLE001 - deleted underneath us, damaged files ...
        st.error(f"Could not read run {run_id}: {exc}")
        return
    if polling and snap.done and st.session_state.get("live_ended") != run_id:
        st.session_state["live_ended"] = run_id
        st.rerun()  # the run ended: redraw the whole page once, without the timers
    kind, words = state.status_words(snap)
    getattr(st, kind)(words)
    st.caption(state.run_summary(snap))
    top, stop = st.columns([5, 1], vertical_alignment="bottom")
    top.progress(min(1.0, snap.progress), text=state.progress_words(snap))
    if not snap.done and state.may_change(snap.owner):
        with stop.popover("Stop", icon=":material/stop:", help="cancel this run"):
            st.write("Stop this run? Its curves so far are kept.")
            if st.button("Yes, stop it", key="stop", type="primary"):
                state.safely("stop the run", engine.cancel, run_id, owner=state.owner(), admin=state.is_admin())
    elif not snap.done:
        stop.caption("started by another session")
    for warning in snap.warnings:
        st.warning(warning)


@st.fragment(run_every=CHARTS_EVERY_S if polling else None)
def charts_view(run_id: str) -> None:
    try:
        snap, events = state.poll(engine, run_id)
    except Exception:  # noqa: BLE001 - progress_view says what went wrong
        return
    methods = snap.config.get("methods") or None
    epochs, steps = snap.config.get("train", {}).get("epochs"), snap.total_steps or None
    if snap.done and not any(e.get("type") == "eval" for e in events):
        st.info("This run ended before its first validation point: there are no curves to draw.")
        return
    def fig(key, reads, build, *args):
        return live_figures.figure(run_id, key, reads, events, build, *args, done=snap.done)

    show.chart(fig("acc", ("eval",), charts.accuracy_figure, methods, epochs), key="acc")
    if snap.results:
        st.subheader("Test results")
        show.table(tables.results_frame(snap.results, methods))
        st.caption(f"{tables.UNITS_NOTE} {tables.IMBALANCE_NOTE}")
        state.link("results", "Bar charts, confusion matrices and downloads on Results", icon=":material/table_chart:", run_id=run_id)
    weak = tables.weaker_modality(events)  # the tabs open on the modality that is losing out
    order = (weak, "audio" if weak == "visual" else "visual")
    signalling = method_charts.methods_with_signals(events, methods)
    tabs = st.tabs([f"Gradient at the {m} encoder" for m in order] + ["Losses"]
                   + (["OGM-GE imbalance ratio"] if "ogm-ge" in (methods or []) else [])
                   + [f"{m} signals" for m in signalling], key="live_tabs")
    for tab, modality in zip(tabs, order):
        with tab:
            show.chart(fig(f"grad_{modality}", ("diagnostics",), charts.gradient_figure, modality, methods, steps),
                       key=f"grad_{modality}")
    with tabs[2]:
        show.chart(fig("loss", ("step",), charts.loss_figure, methods, steps), key="loss")
    if "ogm-ge" in (methods or []):
        with tabs[3]:
            show.chart(fig("imbalance", ("eval",), charts.imbalance_figure, methods, epochs), key="imbalance")
    for tab, m in zip(tabs[len(tabs) - len(signalling):], signalling):
        with tab:
            show.chart(fig(f"signals_{m}", ("step",), method_charts.signals_figure, m, steps), key=f"signals_{m}")


progress_view(run_id, polling)
charts_view(run_id)
