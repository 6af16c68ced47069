"""DGL Lab: the app's entry point (`streamlit run app/main.py`). A router: pages do the work."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import streamlit as st

st.set_page_config(page_title="DGL Lab", page_icon=":material/science:", layout="wide")

pages = [
    st.Page("pages/experiment.py", title="Experiment", icon=":material/tune:", default=True),
    st.Page("pages/live.py", title="Live", icon=":material/monitoring:"),
    st.Page("pages/results.py", title="Results", icon=":material/table_chart:"),
    st.Page("pages/studies.py", title="Studies", icon=":material/stacked_line_chart:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/why.py", title="Why it happens", icon=":material/school:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/movie:"),
]

# Keep the Experiment form's values when the user visits other pages (Streamlit drops the state
# of widgets that a run does not draw, unless it is re-assigned).
for key in [k for k in st.session_state if str(k).startswith("exp_")]:
    st.session_state[key] = st.session_state[key]

# Streamlit's wide layout keeps 5rem of padding each side; on a 1280 px laptop that cost the
# tables their last columns. 2rem is still clear of the edges (and a phone keeps its 1rem).
# Page links wrap instead of ending in "..." on a phone.
st.html("<style>@media (min-width: 640px) {[data-testid='stMainBlockContainer'] "
        "{padding-left: 2rem; padding-right: 2rem;}} "
        "[data-testid='stPageLink'] p {white-space: normal; overflow: visible;}</style>")

with st.sidebar:
    st.markdown("**DGL Lab** · modality imbalance, seen live")
    st.caption("Joint training starves the slower modality; Disentangled Gradient Learning (DGL) gives each encoder its own gradient back.")

st.navigation(pages).run()
