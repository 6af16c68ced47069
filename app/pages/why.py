"""Why it happens: fusion shrinks the error signal that reaches each encoder."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

from app import charts, show, state, tables, why_charts

state.ensure_router()
st.title("Why it happens")
st.markdown(
    r"""
With a concat head $f(h_a, h_v) = W_a h_a + W_v h_v + b$ and cross-entropy, the gradient reaching the
audio features is $\partial CE / \partial h_a = W_a^\top (p - e_y)$, where $p = \mathrm{softmax}(z_a + z_v)$ is the
**fused** prediction. Trained alone, the same encoder would get $W_a^\top (p_a - e_y)$ with $p_a = \mathrm{softmax}(z_a)$.

So the error signal reaching one encoder depends on the *other* modality: once the other one ranks the true class
first, $1 - p_y < 1 - p_{a,y}$, and the encoder stops being pushed to learn. The faster modality wins the race and the
slower one is starved: it ends up weaker than it would be alone. **DGL** gives each encoder its unimodal-form gradient
back ($\alpha \cdot CE(z_a)$ and $\alpha \cdot CE(z_v)$ train the encoders) while the fused loss trains only the head.
"""
)

c1, c2 = st.columns(2)
other = c1.slider("Other modality's confidence: its logit margin for the true class", -2.0, 8.0, 3.0, 0.5, key="why_other",
                  help="0 = the other modality has not learned anything yet; 4 = it is already confident")
classes = c2.slider("Number of classes", 2, 10, 6, key="why_classes")
show.chart(why_charts.why_figure(other, classes), key="why_toy")
own = 0.0
fused, alone = why_charts.error_signals([own], other, classes)
st.caption(f"For an encoder that has not learned yet (its margin 0): error signal {alone[0]:.2f} alone vs "
           f"{fused[0]:.2f} under fusion, {fused[0] / alone[0]:.0%} of it. Computed live; all other classes' logits equal.")

st.subheader("Measured in your latest run")
engine = state.get_engine()
runs = state.safely("list the runs", engine.runs, default=[])
run_id = state.current_run_id(engine) if runs else None
snap = None
if run_id is None:
    st.info("No run yet: start one to see the shrink measured on real gradients.")
    state.link("experiment", "Go to Experiment", icon=":material/tune:")
else:
    snap, events = state.safely("read the run", state.poll, engine, run_id, default=(None, []))
    if snap is not None:
        st.caption(f"Run {run_id} ({snap.status}). Every few steps the trainer measures, on the current batch, the gradient each "
                   "encoder gets from the fused loss and from its own unimodal loss through the same head, before clipping.")
        show.chart(why_charts.gradient_ratio_figure(events, snap.config.get("methods")), key="why_measured")
        st.caption("Below 1: fusion hands the encoder a smaller error signal than training it alone would. "
                   "Look at the joint model's visual encoder once audio is confident. DGL's encoders are trained by "
                   "their unimodal losses only, so for DGL the ratio shows the shrink it sidesteps.")
        state.link("live", "All gradient charts on Live", icon=":material/monitoring:", run_id=run_id)

st.subheader("What each of DGL's two cuts contributes")
st.markdown(
    r"""
DGL makes two truncations. Removing one at a time (the paper's ablations) shows what each does:

| method | fused loss reaches the encoders | unimodal losses reach the head |
|---|---|---|
| `joint` | yes | (none) |
| `uni-aux` | yes | yes |
| `dgl-no-fused-cut` | **yes** | no |
| `dgl-no-uni-cut` | no | **yes** |
| `dgl` | no | no |

- The **fused cut** ($sg(h_a), sg(h_v)$ in the fused loss) is what removes the shrunken, other-modality-dependent error
  signal from the encoders: without it, each encoder again gets part of its gradient through fusion.
- The **unimodal cut** (a detached head in $f(h_a, 0)$, $f(0, h_v)$) keeps the head a fusion head: without it, the
  unimodal losses pull the shared head towards each modality alone.

On short runs the ablations can land within a point or two of DGL, or above it: the paper's gaps are from full
training on real data. Compare them over several seeds (a study on Experiment) before reading an order into one run.
"""
)
ABLATIONS = ("joint", "uni-aux", "dgl-no-fused-cut", "dgl-no-uni-cut", "dgl")
if run_id is not None and snap is not None:
    present = [m for m in ABLATIONS if m in (snap.results or {})]
    if len(present) >= 2:
        st.caption(f"Test metrics of run {run_id} for the methods of this table it trained:")
        show.table(tables.results_frame(snap.results, present))
    else:
        st.caption("Your latest run does not include the ablations: choose `uni-aux`, `dgl-no-fused-cut` and "
                   "`dgl-no-uni-cut` next to `joint` and `dgl` on Experiment to see them measured here.")
