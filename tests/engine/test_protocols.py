"""The paper protocol against independent computations of what the official code does
(shicaiwei123/ICCV2025-GDL: cramed_dgl.sh, main_dgl.py), and the lab protocol unchanged."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from dgl_engine import protocols
from dgl_engine.cli import build_parser, config_from_args
from dgl_engine.config import DataConfig, ExperimentConfig, TrainConfig
from dgl_engine.data.official import drop_last_subset, file_order
from dgl_engine.errors import ConfigError
from dgl_engine.selection import best_epoch
from dgl_engine.trainer import learning_rate
from dgl_engine.validate import resolve, validate

CREMAD = ExperimentConfig(protocol="paper", data=DataConfig(dataset="cremad", root="CREMA-D"))


def cli(*args: str) -> ExperimentConfig:
    return config_from_args(build_parser().parse_args(["train", *args]))


def test_the_paper_protocol_sets_every_official_setting():
    c = resolve(CREMAD)
    assert c.data.preprocessing == "paper-exact" and c.data.val_fraction == 0.0
    assert (c.model.encoder, c.model.fusion, c.model.linear_init) == ("resnet18", "concat", "xavier-normal")
    t = c.train
    assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.batch_size, t.grad_clip) == ("sgd", 0.002, 0.9, 1e-4, 64, 40.0)
    assert (t.epochs, t.lr_decay_epoch, t.precise_bn_samples, t.evals_per_epoch) == (100, 69, 0, 1)
    assert t.official_scores and t.precision == "fp32"
    assert c.method_params["dgl"]["alpha"] == 4.0
    assert c.protocol_keep == () and resolve(c) == c  # nothing departs; resolving again changes nothing
    assert CREMAD.train == TrainConfig()  # the input is left alone


def test_the_lab_protocol_changes_nothing():
    for config in (ExperimentConfig(), dataclasses.replace(CREMAD, protocol="lab")):
        resolved = resolve(config)
        assert dataclasses.replace(resolved, method_params=config.method_params) == config
    assert resolve(ExperimentConfig()).method_params == {"dgl": {"alpha": 2.0}}


@pytest.mark.filterwarnings("ignore:Detected call of")  # the official order itself: scheduler.step() first
def test_the_schedule_is_the_official_multisteplr_stepped_before_each_epoch():
    """main_dgl.py: MultiStepLR(optimizer, [70], 0.1); train_epoch() calls scheduler.step() first."""
    train = resolve(CREMAD).train
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.002, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, [70], 0.1)
    for epoch in range(100):
        scheduler.step()  # line 74, before the epoch's batches
        official = opt.param_groups[0]["lr"]
        assert learning_rate(train, epoch) == pytest.approx(official, rel=1e-12), epoch
        opt.step()
    assert learning_rate(train, 68) == 0.002 and learning_rate(train, 69) == pytest.approx(0.0002)


def test_explicit_flags_win_and_are_reported_as_departures():
    c = resolve(cli("--dataset", "cremad", "--root", "x", "--protocol", "paper", "--epochs", "1", "--alpha", "2"))
    assert c.train.epochs == 1 and c.method_params["dgl"]["alpha"] == 2.0  # kept, though 2 is the lab default
    assert c.train.lr == 0.002 and c.model.encoder == "resnet18"  # the rest is the protocol's
    assert c.protocol_keep == ("train.epochs", "method_params.dgl.alpha")
    assert resolve(c) == c  # a stored record resolves to itself
    warnings = validate(c)
    assert any("train.epochs is 1 where the paper protocol uses 100" in w and "main_dgl.py:41" in w for w in warnings)
    # An explicit flag equal to the lab default is still the user's (the CLI knows it was given).
    assert resolve(cli("--dataset", "cremad", "--root", "x", "--protocol", "paper", "--epochs", "6")).train.epochs == 6
    # In code: a value that differs from the lab default is the user's.
    assert resolve(dataclasses.replace(CREMAD, train=TrainConfig(lr=0.01))).train.lr == 0.01


def test_the_protocol_is_refused_where_it_has_no_recipe():
    with pytest.raises(ConfigError, match="official CREMA-D script.*not synthetic"):
        resolve(ExperimentConfig(protocol="paper"))
    with pytest.raises(ConfigError, match="the lab protocol sets none"):
        resolve(ExperimentConfig(protocol_keep=("train.epochs",)))
    with pytest.raises(ConfigError, match="unknown protocol setting 'train.seed'"):
        resolve(dataclasses.replace(CREMAD, protocol_keep=("train.seed",)))
    with pytest.raises(ConfigError, match="protocol"):
        validate(ExperimentConfig(protocol="exact"))


def test_every_protocol_setting_names_its_official_source():
    for s in protocols.PAPER:
        assert s.source and any(f in s.source for f in ("main_dgl.py", "cramed_dgl.sh", "CramedDataset.py", "models/"))


def _official_best(accs: list[float]) -> tuple[float, int | None]:
    """main_dgl.py lines 298-350, as written."""
    best_acc = 0.0
    saved = None
    for epoch in range(len(accs)):
        acc = accs[epoch]
        if acc > best_acc and epoch:
            best_acc = float(acc)
            saved = epoch
    return best_acc, saved


def test_the_best_epoch_is_the_official_selection():
    rng = random.Random(0)
    for trial in range(200):
        accs = [round(rng.random(), 2) for _ in range(rng.randint(2, 12))]
        if trial % 3 == 0:
            accs[0] = 1.0  # the first epoch is never selected, even when it is best
        history = [{"acc": 0.0, "acc_official_subset": a} for a in accs]
        best, epoch = _official_best(accs)
        got = best_epoch(history)
        if epoch is not None:
            assert got == {"acc_best_epoch": best, "best_epoch": epoch + 1}
    assert best_epoch([{"acc": 0.5}]) == {"acc_best_epoch": 0.5, "best_epoch": 1}  # a one-epoch run
    assert best_epoch([{"acc": 0.2}, {"acc": 0.4}, {"acc": 0.4}]) == {"acc_best_epoch": 0.4, "best_epoch": 2}


def test_the_official_subset_is_what_its_drop_last_loader_scores(shared_data):
    """744 test rows, batch 64, drop_last: the first 704 of test.csv, in its order."""
    from dgl_engine.data.cremad import read_split_file

    listed = list(read_split_file(shared_data / "cremad" / "splits" / "test.csv")[0])  # (rows, skipped)
    assert len(listed) == 744
    ours = sorted(listed)  # our test split is in name order
    rows = drop_last_subset(file_order(ours, listed), 64)
    loader = torch.utils.data.DataLoader(listed, batch_size=64, shuffle=False, drop_last=True)
    official = [clip for batch in loader for clip in batch]
    assert len(rows) == len(official) == 704
    assert [ours[r] for r in rows.tolist()] == official
    assert len(drop_last_subset(file_order(ours[:2], listed), 64)) == 0  # fewer clips than a batch: none


def test_the_head_starts_as_the_official_weight_init_draws_it():
    """utils/utils.py weight_init: nn.init.xavier_normal_ on every nn.Linear, bias 0."""
    from dgl_engine.config import ModelConfig
    from dgl_engine.models.av_model import build_model

    head = build_model(ModelConfig(encoder="tiny", linear_init="xavier-normal"), 6, 0).fusion_head.fc
    official = torch.nn.Linear(head.in_features, head.out_features)
    torch.manual_seed(0)
    torch.nn.init.xavier_normal_(official.weight)
    sigma = (2 / (head.in_features + head.out_features)) ** 0.5
    for w in (head.weight.detach(), official.weight.detach()):
        assert abs(float(w.std()) / sigma - 1) < 0.15
        assert float((w.abs() > 1.8 * sigma).float().mean()) > 0.03  # a normal's tails; a uniform has none
    assert torch.all(head.bias == 0)
    lab = build_model(ModelConfig(encoder="tiny"), 6, 0).fusion_head.fc.weight
    assert float((lab.abs() > 1.8 * sigma).float().mean()) == 0  # the lab's xavier_uniform_, unchanged
