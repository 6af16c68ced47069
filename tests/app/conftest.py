"""App-layer test setup.

A page run alone under AppTest gets its own folder (app/pages/) on sys.path, where
``streamlit run app/main.py`` puts app/. Put app/ there too, so that a page's first line,
``import _bootstrap``, finds app/_bootstrap.py in tests as it does in the server.
"""

import sys
from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "app")
if APP not in sys.path:
    sys.path.append(APP)  # appended: app/'s modules never shadow an installed one


import pytest  # noqa: E402
import streamlit as st  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty run store, and an engine for it created on first use (as in the app)."""
    from app import state

    monkeypatch.setenv("DGL_LAB_HOME", str(tmp_path))
    st.cache_resource.clear()
    yield tmp_path
    state.get_engine().shutdown()
    st.cache_resource.clear()
