"""The Experiment form is read from the schema: every setting is shown or deliberately left to
the dataset picker, widget keys are the schema's, and the default form builds the default config."""

from __future__ import annotations

from app import forms
from dgl_engine.api import ExperimentConfig, leaves
from dgl_engine.validate import resolve


def test_every_schema_setting_is_in_the_form_or_named_as_not():
    paths = {x.path for x in leaves()}
    shown = set(forms.FORM_SECTIONS) | set(forms.NOT_IN_FORM)
    assert paths - shown == set(), "a new setting needs a place in the Experiment form"
    assert shown - paths == set(), "the form names a setting the schema no longer has"


def test_the_default_form_builds_the_default_experiment():
    assert resolve(forms.build_config(forms.defaults())) == resolve(ExperimentConfig())


def test_form_values_become_the_config_the_cli_would_build():
    from dgl_engine.cli import build_parser, config_from_args

    values = forms.defaults() | forms.regime_values("visual-dominant")
    values.update({"exp_regime": "visual-dominant", "exp_audio_reliability": 0.55, "exp_lr_decay_epoch": 4,
                   "exp_param_dgl_alpha": 3.0, "exp_split": "0.5, 0.25, 0.25"})
    cli = config_from_args(build_parser().parse_args(
        ["train", "--regime", "visual-dominant", "--audio-reliability", "0.55", "--lr-decay-epoch", "4",
         "--alpha", "3", "--split", "0.5,0.25,0.25"]))
    assert resolve(forms.build_config(values)) == resolve(cli)


def test_real_data_settings_apply_only_where_the_dataset_uses_them():
    values = forms.defaults() | {"exp_splits": "my-splits", "exp_test_speakers": ["theo"], "exp_per_class": 0}
    cremad = forms.build_config(values, "cremad", "/data/CREMA-D")
    assert cremad.data.splits == "my-splits" and cremad.data.test_speakers == () and cremad.data.per_class is None
    avmnist = forms.build_config(values, "avmnist", "/data/av")
    assert avmnist.data.test_speakers == ("theo",) and avmnist.data.splits is None


def test_a_shared_link_carries_the_changed_settings_and_is_checked():
    import pytest

    from dgl_engine.api import ConfigError

    values = forms.defaults() | {"exp_visual_reliability": 0.4, "exp_epochs": 3, "exp_methods": ["joint", "dgl"]}
    token = forms.share_token(values)
    assert forms.from_share_token(token) == values
    assert len(forms.share_token(forms.defaults())) < 10  # nothing changed: an empty object
    bad = forms.share_token(forms.defaults() | {"exp_epochs": 5000})
    with pytest.raises(ConfigError, match="epochs"):
        forms.from_share_token(bad)
    import base64
    import json

    for payload in ({"exp_nope": 1}, {"exp_epochs": "three"}, [1, 2]):
        hostile = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        with pytest.raises(ConfigError):
            forms.from_share_token(hostile)
    for junk in ("%%%", "x" * 5000):
        with pytest.raises(ConfigError):
            forms.from_share_token(junk)


def test_the_paper_protocol_from_the_form_is_the_cli_s():
    """Choosing the protocol moves its widgets; a widget moved afterwards is kept, as a flag is."""
    from dgl_engine.cli import build_parser, config_from_args

    values = forms.defaults() | forms.protocol_values("paper") | {"exp_protocol": "paper", "exp_epochs": 1}
    form = forms.build_config(values, "cremad", "CREMA-D")
    assert form.protocol_keep == ("train.epochs",)
    cli = config_from_args(build_parser().parse_args(
        ["train", "--dataset", "cremad", "--root", "CREMA-D", "--protocol", "paper", "--epochs", "1"]))
    assert resolve(form) == resolve(cli)
    back = forms.defaults() | forms.protocol_values("lab")
    assert back == forms.defaults()  # switching back to lab restores the lab form
