"""Studies: one experiment over several seeds (and a swept setting): curves with bands, the sweep
plot, mean ± std tables and paired differences to joint with bootstrap intervals. ?study=<id>."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

from app import exports, share, show, state, study_charts
from dgl_engine.api import BASELINE, curve_bands

state.ensure_router()
engine = state.get_engine()
st.title("Studies")
st.caption("A study trains the same experiment over several seeds, optionally for several values of one setting. "
           f"Differences to {BASELINE} are taken seed by seed (both trained in lockstep on the same data, weights and "
           "batches); their 95% interval is a percentile bootstrap over seeds, too narrow with few seeds.")
studies = state.safely("list the studies", engine.studies, default=[])
if not studies:
    st.info("No studies yet. On Experiment, open *Repeat over seeds, or sweep one setting* above the Start button, "
            "or run `python -m dgl_engine study --seeds 0,1,2`.")
    state.link("experiment", "Go to Experiment", icon=":material/tune:")
    st.stop()

exports.format_choice()
labels = {s["study_id"]: study_charts.study_label(s) for s in studies}
wanted = st.query_params.get("study") or st.session_state.get("study_id")
current = wanted if wanted in labels else next(iter(labels))
study_id = st.selectbox("Study", list(labels), index=list(labels).index(current), format_func=labels.get,
                        key=f"study_pick_{current}")
st.session_state["study_id"] = study_id
if st.query_params.get("study") != study_id:
    st.query_params["study"] = study_id
share.link_box("this study", study=study_id)
live = next(s for s in studies if s["study_id"] == study_id)["status"] in ("queued", "running")


@st.fragment(run_every=2.0 if live else None)
def study_view(study_id: str, live: bool) -> None:
    record = state.safely("read the study", engine.study, study_id)
    if record is None:
        return
    if live and record["status"] not in ("queued", "running") and st.session_state.get("study_ended") != study_id:
        st.session_state["study_ended"] = study_id
        st.rerun()  # it ended: redraw the page once, without the timer
    done, words = study_charts.progress_words(record)
    top, stop = st.columns([5, 1], vertical_alignment="bottom")
    top.progress(min(1.0, done), text=words)
    if record["status"] in ("queued", "running") and state.may_change(record.get("owner") or ""):
        with stop.popover("Stop", icon=":material/stop:", help="cancel every run of this study that has not ended"):
            if st.button("Yes, stop the study", key="stop_study", type="primary"):
                state.safely("stop the study", engine.cancel_study, study_id, owner=state.owner(), admin=state.is_admin())
    result = state.safely("summarise the study", engine.study_results, study_id, default={"summary": {}, "paired": {}})
    sweep = (record.get("sweep") or {}).get("key")
    methods = (record.get("config") or {}).get("methods") or []

    st.subheader("Validation curves over seeds")
    c1, c2, c3 = st.columns(3)
    kind = c1.radio("Band", list(study_charts.BANDS), format_func=study_charts.BANDS.get, horizontal=True, key="study_band")
    metric = c2.selectbox("Curve", list(study_charts.CURVE_METRICS), format_func=study_charts.CURVE_METRICS.get,
                          key="study_curve_metric")
    value = c3.selectbox(sweep, record["values"], key="study_value") if sweep else record["values"][0]
    ids = [p["run_id"] for p in record["points"] if p.get("run_id") and p["value"] == value]
    events = {rid: state.poll(engine, rid)[1] for rid in ids if record["run_status"].get(rid) != "deleted"}
    bands = curve_bands(record, events, value, metric, kind)
    show.chart(study_charts.band_figure(bands, metric, kind, f" ({sweep} = {value})" if sweep else ""), key="study_bands",
                  filename=f"{study_id}-curves")

    if sweep:
        st.subheader(f"Test metrics against {sweep}")
        # Head mode joins the picker when some method of the study has heads of its own.
        columns = study_charts.result_columns(m for per_value in result["summary"].values() for m in per_value.values())
        shown = st.selectbox("Metric", list(columns), format_func=columns.get, key="study_sweep_metric")
        show.chart(study_charts.sweep_figure(result["summary"], sweep, shown, methods), key="study_sweep",
                      filename=f"{study_id}-sweep-{shown}")
    st.subheader("Test metrics: mean ± sample std over seeds (%)")
    summary = study_charts.summary_frame(result, sweep)
    show.table(summary)
    exports.csv_button(summary, f"{study_id}-summary.csv", key="study_summary_csv")
    st.subheader(f"Paired difference to {BASELINE}: mean [95% bootstrap CI] over seeds (points)")
    if result["paired"]:
        paired = study_charts.paired_frame(result, sweep)
        show.table(paired)
        exports.csv_button(paired, f"{study_id}-paired.csv", key="study_paired_csv")
    else:
        st.caption(f"No paired differences: {BASELINE} is not among this study's methods." if BASELINE not in methods
                   else "No finished runs yet.")
    with st.expander("Runs of this study"):
        members = study_charts.runs_frame(record)
        show.table(members)
        exports.csv_button(members, f"{study_id}-runs.csv", key="study_runs_csv")
        st.caption("Open one on Results with its run id (each is an ordinary run).")
    study_runs = [p["run_id"] for p in record["points"] if p.get("run_id") and record["run_status"].get(p["run_id"]) != "deleted"]
    state.link("compare", "Compare this study's runs one by one (colour them by seed or by the swept setting)",
               icon=":material/compare_arrows:", runs=",".join(study_runs))


study_view(study_id, live)
