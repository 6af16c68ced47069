"""Lockstep (DESIGN.md, "Architecture"): all methods of an experiment start from identical
weights and see identical batches in identical order; a seed fixes the whole run."""

from __future__ import annotations

import torch

from dgl_engine.config import ModelConfig
from dgl_engine.lifecycle import load_data
from dgl_engine.methods import METHODS
from dgl_engine.models.av_model import build_model
from dgl_engine.trainer import train_experiment

from tests.conftest import small_config


def _tiny(seed=0, methods=("joint", "dgl"), epochs=1):
    return small_config(methods=methods, samples_per_class=20, epochs=epochs, seed=seed)


def test_build_model_depends_on_the_seed_alone():
    a = build_model(ModelConfig(), 6, seed=3).state_dict()
    b = build_model(ModelConfig(), 6, seed=3).state_dict()
    c = build_model(ModelConfig(), 6, seed=4).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_all_methods_start_equal_and_see_the_same_batches_in_the_same_order(monkeypatch):
    config = _tiny(methods=tuple(METHODS), epochs=2)
    data = load_data(config)
    batches: dict[str, list] = {}
    first_weights: dict[str, dict] = {}

    for cls in {c for c in METHODS.values()}:
        original = cls.backward

        def recording(self, model, audio, visual, labels, _original=original):
            if self.name not in first_weights:
                first_weights[self.name] = {k: v.detach().clone() for k, v in model.named_parameters()}
            batches.setdefault(self.name, []).append((labels.clone(), audio.clone(), visual.clone()))
            return _original(self, model, audio, visual, labels)

        monkeypatch.setattr(cls, "backward", recording)

    steps = []
    train_experiment(config, data, lambda e: steps.append(e) if e.type == "step" else None)

    assert set(batches) == set(METHODS)
    n_train = len(data.train)
    bs = min(config.train.batch_size, n_train)
    expected_steps = (n_train // bs) * config.train.epochs
    reference = batches["joint"]
    assert len(reference) == expected_steps >= 4
    for name, seq in batches.items():
        assert len(seq) == expected_steps, name
        for step, ((y, a, v), (y0, a0, v0)) in enumerate(zip(seq, reference)):
            assert torch.equal(y, y0) and torch.equal(a, a0) and torch.equal(v, v0), f"{name} saw another batch at step {step + 1}"
    # The batches are real, shuffled samples of the training split: not all the same batch.
    assert not all(torch.equal(reference[0][0], y) for y, _, _ in reference[1:])

    # Identical initial weights, equal to build_model(seed): the shared start of every curve.
    # (Parameters: BN running statistics are re-estimated per method for its own evaluations
    # and do not enter train-mode outputs.)
    init = dict(build_model(config.model, data.num_classes, config.seed).named_parameters())
    # Methods with heads of their own (G-Blend, MLB, DI-MML) have them on top, and only them.
    for name, weights in first_weights.items():
        shared = {k: v for k, v in weights.items() if not k.startswith("heads.")}
        assert shared.keys() == init.keys()
        for k, v in init.items():
            assert torch.equal(weights[k], v), f"{name} started from other weights ({k})"
        own = {k for k in weights if k.startswith("heads.")}
        assert own == {f"heads.{h}.{p}" for h in METHODS[name].heads for p in ("weight", "bias")}, name

    # Step events come in lockstep: step k of every method before step k + 1 of any.
    order = [(e.step, e.method) for e in steps]
    assert [s for s, _ in order] == sorted(s for s, _ in order)
    assert len(order) == expected_steps * len(METHODS)


def _run(seed):
    config = _tiny(seed=seed)
    result = train_experiment(config, load_data(config), lambda e: None)
    return result.test, {m: model.state_dict() for m, model in result.models.items()}


def test_a_seed_fixes_the_run_and_another_seed_changes_it():
    test_a, weights_a = _run(0)
    test_b, weights_b = _run(0)
    test_c, weights_c = _run(1)
    assert test_a == test_b
    for m in weights_a:
        assert weights_a[m].keys() == weights_b[m].keys()
        for k in weights_a[m]:
            assert torch.equal(weights_a[m][k], weights_b[m][k]), f"{m}.{k} differs between two runs of seed 0"
    assert any(
        not torch.equal(weights_a[m][k], weights_c[m][k]) for m in weights_a for k in weights_a[m] if weights_a[m][k].is_floating_point()
    )
    assert test_a != test_c
