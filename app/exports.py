"""What leaves the app as files: charts as PNG or SVG, tables as CSV.

Charts are exported in the browser, by Plotly's own camera button (top right of each chart),
so the server needs no image renderer (no kaleido): ``image_options`` tells that button which
format to write. One choice, in the sidebar, applies to every chart of the page and is kept
across pages.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

FORMATS = {"png": "PNG (picture)", "svg": "SVG (vector, for papers and slides)"}
_CHOSEN = "export_format"  # session key of the choice, outside the widget: it survives pages without it


def image_options(fmt: str, filename: str) -> dict:
    """Plotly's chart config: the camera button writes ``filename.<fmt>``, PNGs at twice the
    screen's resolution (sharp on slides)."""
    fmt = fmt if fmt in FORMATS else "png"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "chart"
    return {"toImageButtonOptions": {"format": fmt, "filename": f"dgl-lab-{name}", "scale": 2 if fmt == "png" else 1},
            "displaylogo": False}


def chosen_format() -> str:
    return st.session_state.get(_CHOSEN, "png")


def format_choice() -> str:
    """The sidebar's 'charts download as' choice; returns 'png' or 'svg'."""
    def keep():
        st.session_state[_CHOSEN] = st.session_state["export_format_pick"]

    st.sidebar.radio("Charts download as", list(FORMATS), format_func=FORMATS.get, index=list(FORMATS).index(chosen_format()),
                     key="export_format_pick", on_change=keep,
                     help="Each chart's camera button (top right, on hover) saves it in this format.")
    return chosen_format()


def csv_button(frame: pd.DataFrame, file_name: str, key: str, label: str = "Download this table (CSV)", container=st) -> None:
    """A CSV download of a table, as shown (one header row, no index)."""
    container.download_button(label, frame.to_csv(index=False), file_name, "text/csv", key=key, icon=":material/download:")
