"""How pages show a chart: the figure, then its note as a caption.

A chart's title is short so it fits a phone (``charts.TITLE_MAX``); what the chart needs said
beyond that travels with the figure (``charts.note``) and is written here, under it, where
text wraps.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import charts, exports


def chart(fig: go.Figure, key: str | None = None, filename: str | None = None, container=st) -> None:
    """The figure, its camera button saving in the format chosen in the sidebar (``exports``),
    and its note."""
    container.plotly_chart(fig, key=key, config=exports.image_options(exports.chosen_format(), filename or key or "chart"))
    words = charts.note(fig)
    if words:
        container.caption(words)
