"""How pages show a chart: the figure, then its note as a caption.

A chart's title is short so it fits a phone (``charts.TITLE_MAX``); what the chart needs said
beyond that travels with the figure (``charts.note``) and is written here, under it, where
text wraps.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import charts, exports, tables


def chart(fig: go.Figure, key: str | None = None, filename: str | None = None, container=st) -> None:
    """The figure, its camera button saving in the format chosen in the sidebar (``exports``),
    and its note."""
    container.plotly_chart(fig, key=key, config=exports.image_options(exports.chosen_format(), filename or key or "chart"))
    words = charts.note(fig)
    if words:
        container.caption(words)


# Columns whose content is long text: a fixed width (the cell shows the whole text on hover),
# so one long name or method list does not push the numbers off a laptop's screen.
WIDE_TEXT = {"name": 190, "methods": 170, "run": 90}


def table(frame: pd.DataFrame, key: str | None = None, container=st, **kwargs) -> None:
    """A dataframe as every page shows one: no index, short headers (``tables.headers``), the
    first column pinned so that on a phone, where the table scrolls sideways, each row keeps
    its name in view."""
    config = {c: st.column_config.Column(h["label"], help=h["help"]) for c, h in tables.headers(frame).items()}
    for c, width in WIDE_TEXT.items():
        if c in frame.columns:
            config[c] = st.column_config.Column(width=width)
    if len(frame.columns):
        first = frame.columns[0]
        config[first] = st.column_config.Column(tables.HEADERS.get(first), pinned=True,
                                                width=WIDE_TEXT.get(first))
    container.dataframe(frame, hide_index=True, placeholder="–", column_config=config, key=key, **kwargs)
