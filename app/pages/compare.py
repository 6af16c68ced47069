"""Compare: any set of runs, chosen by name, dataset, method and status: one curve metric
overlaid and coloured by a config key, their test metrics side by side, and the settings that
differ. ?runs=id1,id2 opens it with those runs chosen."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

from app import compare, compare_charts, curve_metrics, exports, share, show, state, tables

state.ensure_router()
engine = state.get_engine()
st.title("Compare runs")
runs = state.runs_or_stop(engine)
exports.format_choice()
records = {r["run_id"]: r for r in runs}
labels = compare.unique_labels({rid: state.run_label(r) for rid, r in records.items()})

# A link's ?runs= chooses the runs when it differs from what this page last wrote there (a link
# just opened, or Results' "compare"); otherwise the widget holds the choice, which is also kept
# when the page is opened from the sidebar (no ?runs=).
in_url = st.query_params.get("runs", "")
if in_url and in_url != st.session_state.get("compare_url"):
    st.session_state["compare_runs"] = compare.parse_run_ids(in_url, list(records))
chosen = [rid for rid in st.session_state.get("compare_runs", []) if rid in records]

choices = compare.filter_choices(runs)
c1, c2, c3, c4 = st.columns(4)
keep = compare.RunFilter(
    datasets=tuple(c1.multiselect("Dataset", choices["datasets"], key="compare_datasets", placeholder="any")),
    methods=tuple(c2.multiselect("Method", choices["methods"], key="compare_methods", placeholder="any",
                                 help="Keeps runs that trained any of these, and draws only these methods.")),
    statuses=tuple(c3.multiselect("Status", choices["statuses"], key="compare_statuses", placeholder="any")),
    text=c4.text_input("Name contains", key="compare_text", placeholder="e.g. lab 1"),
)
shown = compare.filter_runs(runs, labels, keep)
st.session_state["compare_runs"] = chosen
options = [rid for rid in records if rid in shown or rid in chosen]  # chosen runs stay, whatever the filters


def choose_all_shown():
    st.session_state["compare_runs"] = list(dict.fromkeys([*st.session_state.get("compare_runs", []), *shown]))


pick, add = st.columns([5, 1], vertical_alignment="bottom")
chosen = pick.multiselect(f"Runs ({len(shown)} of {len(runs)} match the filters)", options, format_func=labels.get,
                          key="compare_runs", placeholder="choose runs by name")
add.button("Add all matching", key="compare_add_all", on_click=choose_all_shown, disabled=not shown)
st.session_state["compare_url"] = ",".join(chosen)
if st.query_params.get("runs", "") != ",".join(chosen):
    if chosen:
        st.query_params["runs"] = ",".join(chosen)
    else:
        st.query_params.pop("runs", None)
if not chosen:
    st.info("Choose runs to compare: the filters narrow the list, or *Add all matching* takes every run they keep.")
    st.stop()

events = {rid: state.safely("read the run", state.poll, engine, rid, default=(None, []))[1] for rid in chosen}
configs = {rid: records[rid].get("config") or {} for rid in chosen}
diff = compare.config_diff(configs)
methods = keep.methods

c1, c2 = st.columns(2)
metrics = {m.id: m for m in curve_metrics.catalogue(events.values())}
metric_id = c1.selectbox("Curve", list(metrics) or ["-"], format_func=lambda i: metrics[i].label if i in metrics else "no curves yet",
                         key="compare_metric")
colour_by = c2.selectbox("Colour by", compare.colour_choices(diff), key="compare_colour",
                         help="Runs with the same value share a colour. Offered: the settings that differ between the chosen runs.")
group_key = colour_by if colour_by not in (compare.BY_METHOD, compare.BY_RUN) else None
if metric_id in metrics:
    values = compare.groups(configs, group_key) if group_key else {}
    curves = [compare_charts.RunCurves(rid, labels[rid], curve_metrics.series(events[rid], metrics[metric_id], methods),
                                       values.get(rid, "")) for rid in chosen]
    show.chart(compare_charts.compare_figure(curves, metrics[metric_id], colour_by), key="compare_overlay")
else:
    st.caption("None of the chosen runs has recorded a curve yet.")

st.subheader("Test metrics side by side")
table = compare.test_frame([records[rid] for rid in chosen], labels, methods, group_key)
if table.empty:
    st.caption("No test results among the chosen runs: they appear when a run finishes.")
else:
    every = st.toggle("Every test metric (per-modality macro F1, other modes ...)", key="compare_every_metric",
                      help="Off: the Results table's metrics, which fit a laptop's screen. The CSV always has every one.")
    show.table(table if every else compare.main_columns(table))
    st.caption(tables.UNITS_NOTE)
    exports.csv_button(table, "dgl-lab-compare-test-metrics.csv", key="compare_test_csv")

st.subheader("Settings that differ")
if len(chosen) < 2:
    st.caption("Choose a second run to see which settings differ.")
elif not diff:
    st.caption("The chosen runs have identical settings.")
else:
    settings = compare.diff_frame(diff, labels)
    show.table(settings)
    exports.csv_button(settings, "dgl-lab-compare-settings.csv", key="compare_diff_csv")
share.link_box("this comparison", runs=",".join(chosen))
