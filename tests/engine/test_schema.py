"""The one schema: config.py is pure, every setting has a CLI flag with the schema's range,
methods own their hyperparameters, unknown names are ConfigErrors listing the valid ones, and
old run records still read."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from dgl_engine.cli import config_from_args, build_parser, main
from dgl_engine.config import ExperimentConfig, experiment_from_dict
from dgl_engine.errors import ConfigError
from dgl_engine.methods import METHODS, create_method, describe_methods
from dgl_engine.schema import get, leaves, override
from dgl_engine.validate import resolve, validate

REPO = Path(__file__).resolve().parents[2]


def test_config_imports_nothing_from_the_project():
    tree = ast.parse((REPO / "dgl_engine" / "config.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("dgl_engine")]


def test_every_setting_has_help_a_unique_flag_and_numbers_have_a_range():
    flags = [x.flag for x in leaves()]
    assert len(flags) == len(set(flags))
    for x in leaves():
        assert x.help, x.path
        if x.kind in ("int", "float"):
            assert x.min is not None and x.max is not None, f"{x.path} is unbounded"


def _args(*argv):
    return config_from_args(build_parser().parse_args(["train", *argv]))


def test_the_cli_sets_the_synthetic_knobs_and_every_training_setting():
    c = _args("--audio-difficulty", "0.3", "--audio-reliability", "0.6", "--visual-difficulty", "0.7",
              "--visual-reliability", "0.9", "--frames", "3", "--colour-cue", "--num-classes", "4",
              "--samples-per-class", "40", "--lr-decay-epoch", "3", "--momentum", "0.5", "--split", "0.5,0.25,0.25")
    s = c.data.synthetic
    assert (s.audio.difficulty, s.audio.reliability, s.visual.difficulty, s.visual.reliability) == (0.3, 0.6, 0.7, 0.9)
    assert (s.frames, s.visual_colour_cue, s.num_classes, s.samples_per_class) == (3, True, 4, 40)
    assert c.train.lr_decay_epoch == 3 and c.train.momentum == 0.5 and s.split == (0.5, 0.25, 0.25)
    # A regime first, then the user's own knobs on top of it.
    c = _args("--regime", "visual-dominant", "--audio-reliability", "0.5")
    assert c.data.regime == "visual-dominant"
    assert c.data.synthetic.audio.difficulty == 0.8 and c.data.synthetic.audio.reliability == 0.5


def test_method_hyperparameters_from_param_and_the_alpha_shortcut():
    c = resolve(_args("--methods", "joint,dgl,ogm-ge", "--param", "dgl.alpha=4", "--param", "ogm-ge.alpha=0.3"))
    assert c.method_params == {"dgl": {"alpha": 4.0}, "ogm-ge": {"alpha": 0.3}}
    assert resolve(_args("--methods", "dgl", "--alpha", "5")).method_params == {"dgl": {"alpha": 5.0}}
    assert resolve(_args("--methods", "joint,dgl")).method_params == {"dgl": {"alpha": 2.0}}  # defaults filled in


@pytest.mark.parametrize("argv, words", [
    (["--param", "dgl.beta=1"], ["beta", "alpha"]),
    (["--param", "dgl.alpha=0"], ["dgl.alpha", "(0, 100]"]),
    (["--param", "telepathy.x=1"], ["telepathy", "joint", "dgl"]),
    (["--methods", "joint", "--param", "dgl.alpha=3"], ["dgl", "not among the chosen methods"]),
    (["--param", "dgl.alpha"], ["METHOD.NAME=VALUE"]),
    (["--seed", str(2**80)], ["--seed", str(2**80)]),
    (["--regime", "loud"], ["loud", "default", "balanced"]),
    (["--audio-difficulty", "1.5"], ["--audio-difficulty", "[0, 1]"]),
])
def test_bad_settings_exit_2_with_one_line(argv, words, tmp_path, capsys):
    assert main(["train", *argv, "--home", str(tmp_path), "--samples-per-class", "10", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    for word in words:
        assert word in err
    assert list(tmp_path.iterdir()) == []


def test_the_old_preset_flag_still_works_with_a_notice(tmp_path, capsys):
    c = config_from_args(build_parser().parse_args(["train", "--preset", "balanced"]), notices := [])
    assert c.data.regime == "balanced" and c.data.synthetic.visual_colour_cue
    assert "--regime" in notices[0]


def test_methods_json_lists_every_method_with_its_hyperparameters(capsys):
    assert main(["methods", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(METHODS)
    assert out["dgl"]["params"]["alpha"] == {"default": 2.0, "min": 0.0, "max": 100.0, "help": out["dgl"]["params"]["alpha"]["help"]}
    assert out["ogm-ge"]["params"]["alpha"]["default"] == 0.8 and out["joint"]["params"] == {}
    assert out["visual-only"]["modalities"] == ["visual"] and "trains" in out["dgl"]["routing"]
    assert out == describe_methods()


def test_a_method_uses_the_configured_value_not_its_default():
    assert create_method("dgl", {"alpha": 7.5}).hp == {"alpha": 7.5}
    assert create_method("dgl").hp == {"alpha": 2.0}
    with pytest.raises(ConfigError, match="valid: alpha"):
        create_method("dgl", {"gamma": 1})


def test_every_unknown_name_is_a_config_error_listing_the_valid_ones():
    from dgl_engine.data.preprocess import feature_specs
    from dgl_engine.models.encoders import create_encoder
    from dgl_engine.models.fusion import create_fusion

    for call, valid in ((lambda: create_method("magic"), "joint"), (lambda: create_encoder("vit", "audio"), "resnet18"),
                        (lambda: create_fusion("film", 4, 4, 2), "concat"), (lambda: feature_specs("huge"), "lab")):
        with pytest.raises(ConfigError, match=valid):
            call()
    for path, value, valid in (("model.fusion", "film", "sum"), ("data.dataset", "imagenet", "cremad"),
                               ("data.regime", "loud", "balanced"), ("device", "tpu", "cuda")):
        with pytest.raises(ConfigError, match=valid):
            validate(override(ExperimentConfig(), {path: value}))


def test_old_run_records_read_back_with_presets_and_alpha_moved():
    old = {"data": {"dataset": "synthetic", "preset": "balanced"}, "train": {"alpha": 3.0, "ogm_alpha": 0.5, "epochs": 2},
           "methods": ["joint", "dgl"], "seed": 1}
    c = experiment_from_dict(old)
    assert c.data.regime == "balanced" and c.train.epochs == 2 and c.methods == ("joint", "dgl")
    assert c.method_params == {"dgl": {"alpha": 3.0}}  # ogm-ge was not among the methods
    real = experiment_from_dict({"data": {"dataset": "cremad", "preset": "paper", "root": "x"}})
    assert real.data.preprocessing == "paper" and real.data.regime == "default"
    new = resolve(ExperimentConfig())
    assert experiment_from_dict(json.loads(json.dumps(new.to_dict()))) == new
    assert get(new, "data.synthetic.audio.reliability") == 0.8


def test_every_method_belongs_to_a_known_family():
    from dgl_engine.methods import FAMILIES

    assert {m: cls.family for m, cls in METHODS.items() if cls.family not in FAMILIES} == {}
    assert METHODS["dgl-no-uni-cut"].family == METHODS["dgl"].family == "DGL and its ablations"
