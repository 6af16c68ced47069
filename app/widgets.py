"""One Streamlit widget per schema leaf: the kind of widget, its bounds and its help all come
from the leaf (``dgl_engine/config.py``), so the form cannot drift from the CLI or the checks."""

from __future__ import annotations

import streamlit as st

from app import forms
from dgl_engine.api import leaf, registry_names

SLIDERS = {"data.synthetic.num_classes"}  # small integer ranges read better as sliders


def setting(path: str, container=st, label: str | None = None, options=None, **kwargs):
    """Draw the widget for the setting at ``path`` (session key ``forms.key(path)``)."""
    x = leaf(path)
    label = label or x.label
    help_text = kwargs.pop("help", None) or x.help + (f" ({x.range_text()})" if x.range_text() else "")
    key = x.key
    if x.kind == "bool":
        return container.checkbox(label, key=key, help=help_text, **kwargs)
    if x.kind == "strs":
        choices = options if options is not None else (registry_names(x.registry) if x.registry else [])
        if choices or x.registry:
            return container.multiselect(label, list(choices), key=key, help=help_text, **kwargs)
        return container.text_input(label + " (comma-separated)", key=key, help=help_text, **kwargs)
    if x.kind in ("str", "floats") and not (x.choices or x.registry or options):
        return container.text_input(label, key=key, help=help_text, max_chars=x.max_len, **kwargs)
    if x.kind == "str":
        choices = list(options or x.choices or registry_names(x.registry))
        return container.selectbox(label, choices, key=key, help=help_text, **kwargs)
    lo, hi = x.min, x.max
    if x.optional:  # 0 stands for "no limit"
        lo, label, help_text = 0, f"{label} (0 = none)", help_text
    if x.kind == "int":
        lo, hi = int(lo if lo is not None else 0), int(hi if hi is not None else 10**9)
        if path in SLIDERS:
            return container.slider(label, lo, hi, key=key, help=help_text, **kwargs)
        return container.number_input(label, lo, hi, step=int(forms.STEPS.get(path, 1)), key=key, help=help_text, **kwargs)
    lo, hi = float(lo if lo is not None else 0.0), float(hi if hi is not None else 1e9)
    if lo == 0.0 and hi == 1.0 and path not in forms.STEPS:
        return container.slider(label, lo, hi, step=0.05, key=key, help=help_text, **kwargs)
    step = forms.STEPS.get(path, 0.1)
    return container.number_input(label, lo, hi, step=float(step), format="%.4g" if step < 0.01 else "%.4f",
                                  key=key, help=help_text, **kwargs)


def init_form() -> None:
    """Widget values live in session state (keys from the schema) so they survive page changes."""
    for key, value in forms.defaults().items():
        st.session_state.setdefault(key, value)


def method_params(methods: list[str], container=st) -> None:
    """The hyperparameter fields of the chosen methods, bounded by each method's declaration."""
    from dgl_engine.api import describe_methods

    info = describe_methods()
    for method in methods:
        for name, spec in info.get(method, {}).get("params", {}).items():
            container.number_input(f"{method} {name}", float(spec["min"]), float(spec["max"]), step=0.1,
                                   key=forms.param_key(method, name), help=spec["help"])
