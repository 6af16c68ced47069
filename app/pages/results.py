"""Results: every past run, its test metrics, the paper's bar chart, downloads, a link to share it."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

from app import charts, exports, share, show, state, tables

state.ensure_router()
engine = state.get_engine()
st.title("Results")
runs = state.runs_or_stop(engine)
exports.format_choice()

show.table(tables.runs_frame(runs))
records = {r["run_id"]: r for r in runs}
labels = {rid: state.run_label(r) for rid, r in records.items()}
current = state.current_run_id(engine)
run_id = st.selectbox("Run", list(labels), index=list(labels).index(current) if current in labels else 0,
                      format_func=labels.get, key=f"results_run_{current}")
state.watch(run_id)
record = records[run_id]
snap, events = state.safely("read the run", state.poll, engine, run_id, default=(None, []))
if snap is None:
    st.stop()

kind, words = state.status_words(snap)
getattr(st, kind)(words)
st.caption(state.run_summary(snap))
if record.get("study"):
    state.link("studies", f"Part of study {record['study']}: all its seeds on Studies", icon=":material/stacked_line_chart:",
               study_id=record["study"])
share.link_box("this run", run=run_id)
state.link("compare", "Compare it with other runs: any curve, test metrics side by side, settings that differ",
           icon=":material/compare_arrows:", runs=run_id)
methods = snap.config.get("methods") or None
if not snap.results:
    st.info("No test results: they appear when a run finishes.")
    if not snap.done:
        state.link("live", "Watch it live", icon=":material/monitoring:", run_id=run_id)
else:
    st.subheader("Test metrics")
    show.table(tables.results_frame(snap.results, methods))
    st.caption(f"{tables.UNITS_NOTE} {tables.IMBALANCE_NOTE}")
    show.chart(charts.modality_bar_figure(snap.results, methods), key="bars", filename=f"{run_id}-accuracy")
    show.chart(charts.probe_bar_figure(snap.results, methods), key="probes", filename=f"{run_id}-probes")

    st.subheader("Confusion matrices (test split)")
    # Zero mode: the shared head with the other modality's features zeroed; head mode: the
    # method's own classifier on that encoder (G-Blend, MLB, DI-MML).
    CONFUSION_KINDS = {"fused": "fused", "audio": "audio (zero mode)", "visual": "visual (zero mode)",
                       "audio_head": "audio (head mode)", "visual_head": "visual (head mode)"}
    confusion = {e["method"]: e.get("confusion") or {} for e in events if e.get("type") == "test"}
    classes = (record.get("data") or {}).get("classes")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", [m for m in confusion if confusion[m]] or ["-"], key="cm_method")
    kinds = list(confusion.get(method, {}))
    which = c2.radio("Prediction", kinds or ["-"], horizontal=True, key="cm_kind",
                     format_func=lambda k: CONFUSION_KINDS.get(k, k))
    if which in confusion.get(method, {}):
        show.chart(charts.confusion_figure(confusion[method][which], classes, f"{method}: {CONFUSION_KINDS.get(which, which)} prediction", "On the test split."),
                      key="confusion", filename=f"{run_id}-{method}-{which}-confusion")

st.subheader("Downloads")
# Each file is made when its button is pressed (a callable), not on every rerun: a long run's
# CSV, JSON and checkpoints took most of a second to build and read.
logged = list(events)  # the events as of this rerun
c1, c2 = st.columns(2)
c1.download_button("Metrics (CSV: validation and test)", lambda: tables.metrics_csv(logged), f"{run_id}-metrics.csv",
                   "text/csv", key="dl_csv", icon=":material/download:")
c2.download_button("All events (JSON)", lambda: tables.events_json(logged), f"{run_id}-events.json", "application/json",
                   key="dl_json", icon=":material/download:")
for m in state.safely("list the models", engine.store.models, run_id, default=[]):
    pt = engine.store.model_path(run_id, m)
    c1, c2 = st.columns(2)
    c1.download_button(f"{m} model (.pt)", pt.read_bytes, f"{run_id}-{m}.pt", "application/octet-stream", key=f"dl_pt_{m}")
    c2.download_button(f"{m} sidecar (.json)", pt.with_suffix(".json").read_text, f"{run_id}-{m}.json", "application/json",
                       key=f"dl_side_{m}")

with st.expander("Configuration"):
    st.json(snap.config)
    if record.get("data"):
        st.json(record["data"], expanded=False)
if snap.status in ("interrupted", "failed", "cancelled"):
    if st.button("Run it again (same settings, a new run)", key="rerun", icon=":material/replay:"):
        again = state.safely("queue the run again", engine.rerun, run_id, owner=state.owner())
        if again:
            state.watch(again)
            state.go("live", again)
if state.may_change(snap.owner):
    with st.expander("Delete this run"):
        sure = st.checkbox(f"Yes, delete run {run_id}, its metrics and its models", key=f"sure_{run_id}")
        if st.button("Delete run", key="delete", type="primary", disabled=not sure, icon=":material/delete:"):
            if state.safely("delete the run", engine.delete, run_id, owner=state.owner(), admin=state.is_admin(),
                            default=False) is None:
                state.forget(run_id)
                st.rerun()
