"""The trainer under the paper protocol's settings, against independent computations of the
official code's behaviour: BatchNorm's running statistics, per-epoch test scores, the official
test subset, training crops cut from whole frames."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dgl_engine import trainer
from dgl_engine.config import ExperimentConfig, ModelConfig, SyntheticSettings, TrainConfig
from dgl_engine.data.features import VisualFeatures
from dgl_engine.data.frames import squash_split
from dgl_engine.data.synthetic import REGIMES, load_synthetic
from dgl_engine.selection import best_epoch


def tiny_data(samples_per_class: int = 40):
    return load_synthetic(dataclasses.replace(REGIMES["default"], samples_per_class=samples_per_class, num_classes=3), 0)


def config(methods=("joint",), **train) -> ExperimentConfig:
    base = dict(epochs=2, batch_size=32, precise_bn_samples=0, evals_per_epoch=1, diagnostics_every=1)
    return ExperimentConfig(methods=tuple(methods), train=TrainConfig(**{**base, **train}), device="cpu",
                            model=ModelConfig(encoder="tiny"))


def test_batchnorm_keeps_the_running_averages_of_the_training_batches(monkeypatch):
    """Official: model.train() batches update BN's running averages (momentum 0.1), model.eval()
    uses them. Replayed here from the batches one BN layer saw while the method trained; the
    gradient diagnostics (run every step here) must not count a batch twice."""
    seen: list[torch.Tensor] = []
    in_diagnostics = [False]

    def capture(module, inputs):
        if module.training and not in_diagnostics[0]:
            seen.append(inputs[0].detach().double())

    real_build, real_diag = trainer.build_model, trainer.gradient_diagnostics

    def build(*args, **kw):
        model = real_build(*args, **kw)
        model.audio_encoder.blocks[0][1].register_forward_pre_hook(capture)  # its first BatchNorm2d
        return model

    def diagnostics(*args, **kw):
        in_diagnostics[0] = True
        try:
            return real_diag(*args, **kw)
        finally:
            in_diagnostics[0] = False

    monkeypatch.setattr(trainer, "build_model", build)
    monkeypatch.setattr(trainer, "gradient_diagnostics", diagnostics)
    result = trainer.train_experiment(config(), tiny_data(), lambda e: None)
    bn = result.models["joint"].audio_encoder.blocks[0][1]
    assert isinstance(bn, nn.BatchNorm2d) and bn.momentum == 0.1
    mean, var = torch.zeros(bn.num_features, dtype=torch.float64), torch.ones(bn.num_features, dtype=torch.float64)
    for x in seen:  # torch's update: (1 - m) * running + m * batch statistic (unbiased variance)
        mean = 0.9 * mean + 0.1 * x.mean(dim=(0, 2, 3))
        var = 0.9 * var + 0.1 * x.var(dim=(0, 2, 3), unbiased=True)
    steps = len(tiny_data().train) // 32 * 2
    assert len(seen) == steps  # one forward per step: diagnostics left the statistics alone
    assert torch.allclose(bn.running_mean.double(), mean, atol=1e-5)
    assert torch.allclose(bn.running_var.double(), var, rtol=1e-4, atol=1e-5)


def test_official_scores_are_the_best_test_epoch_and_the_drop_last_subset():
    data = tiny_data()
    n = len(data.test)
    order = torch.arange(n).flip(0)  # the split file lists the test clips in reverse
    data = dataclasses.replace(data, test_file_order=order)
    events = []
    result = trainer.train_experiment(config(epochs=3, batch_size=8, official_scores=True), data, events.append)
    metrics = result.test["joint"]
    # Independently: the clips a DataLoader(order, batch_size=8, drop_last=True) yields, scored
    # by the final model in eval mode.
    rows = [int(i) for batch in torch.utils.data.DataLoader(order, batch_size=8, drop_last=True) for i in batch]
    assert 0 < len(rows) < n
    model = result.models["joint"].eval()
    with torch.no_grad():
        pred = model(data.test.audio[rows], data.test.visual[rows]).argmax(1)
    assert metrics["acc_official_subset"] == float((pred == data.test.labels[rows]).float().mean())
    # The test split after every epoch (this data has a validation split of its own).
    history = [e.metrics for e in events if e.type == "eval" and e.split == "test"]
    assert len(history) == 3
    assert {k: metrics[k] for k in ("acc_best_epoch", "best_epoch")} == best_epoch(history)
    assert history[-1]["acc"] == metrics["acc"]  # the final epoch is ours


def test_lab_runs_get_no_official_scores():
    result = trainer.train_experiment(config(epochs=1), tiny_data(), lambda e: None)
    assert not {"acc_best_epoch", "best_epoch", "acc_official_subset"} & set(result.test["joint"])


def test_training_crops_are_cut_from_the_whole_frames(monkeypatch):
    """paper-exact keeps whole frames for training and squashes them for everything else."""
    data = tiny_data()
    spec = VisualFeatures(frames=1, fps=1.0, size=24, geometry="full", width=32)
    g = torch.Generator().manual_seed(0)
    whole = (torch.rand(len(data.train), 1, 3, 24, 32, generator=g) * 255).round().to(torch.uint8)
    squashed = {k: squash_split(dataclasses.replace(getattr(data, k), visual=whole[: len(getattr(data, k))]), spec)
                for k in ("train", "val", "test")}
    data = dataclasses.replace(data, train_frames=whole, visual_spec=spec, **squashed)
    calls = []
    real = trainer.crop_whole_frames

    def spy(frames, generator, size, normalization):
        out = real(frames, generator, size, normalization)
        calls.append((frames.dtype, tuple(frames.shape[2:]), tuple(out.shape[2:])))
        return out

    monkeypatch.setattr(trainer, "crop_whole_frames", spy)
    trainer.train_experiment(config(methods=("visual-only",), epochs=1), data, lambda e: None)
    assert calls and all(c == (torch.uint8, (3, 24, 32), (3, 24, 24)) for c in calls)
