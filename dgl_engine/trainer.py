"""The lockstep trainer: every method of an experiment trains on identical batches, in
identical order, from identical initial weights, so a difference between two curves is the
method's doing. Reads top to bottom; emits events instead of printing.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from dgl_engine.augment import crop_whole_frames, random_resized_crop_flip
from dgl_engine.config import ExperimentConfig, TrainConfig
from dgl_engine.data.dataset import AVData
from dgl_engine.data.official import drop_last_subset
from dgl_engine.diagnostics import encoder_grad_norm_tensors, gradient_diagnostics
from dgl_engine.evaluate import encode_split, evaluate, linear_probe, precise_bn
from dgl_engine.events import DiagnosticsEvent, EvalEvent, Observer, PhaseEvent, ProgressEvent, StepEvent, TestEvent
from dgl_engine.methods import Method, create_method
from dgl_engine.models.av_model import AVModel, build_model
from dgl_engine.selection import OFFICIAL_KEY, best_epoch

AUGMENTED = ("paper", "paper-exact")  # preprocessing presets whose training frames are augmented, as officially


class Cancelled(Exception):
    """The user asked the run to stop."""


class Diverged(RuntimeError):
    """A loss became NaN or infinite."""


@dataclass
class TrainResult:
    models: dict[str, AVModel]
    methods: dict[str, Method]
    test: dict[str, dict]  # method -> final test metrics
    seconds: float


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def make_optimizer(model: AVModel, train: TrainConfig) -> torch.optim.Optimizer:
    if train.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def learning_rate(train: TrainConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (from 0): x 0.1 from ``lr_decay_epoch`` on."""
    return train.lr * (0.1 if train.lr_decay_epoch is not None and epoch >= train.lr_decay_epoch else 1.0)


def eval_steps(steps_per_epoch: int, epochs: int, per_epoch: int) -> set[int]:
    """Steps after which the validation split is evaluated (plus step 0, the shared start)."""
    points = {0}
    for e in range(epochs):
        for k in range(1, per_epoch + 1):
            points.add(e * steps_per_epoch + max(1, round(k * steps_per_epoch / per_epoch)))
    return points


class StepLog:
    """Step events, read from the device in batches: one host-device synchronisation per
    ``every`` lockstep steps instead of one per method-step (a GPU step never waits for the
    host). A non-finite loss is found when the batch is read and fails the run naming its step."""

    def __init__(self, observer: Observer, steps_per_epoch: int, every: int = 8):
        self.observer, self.steps_per_epoch, self.every = observer, steps_per_epoch, every
        self.pending: list[tuple] = []
        self.steps: set[int] = set()

    @property
    def full(self) -> bool:
        return len(self.steps) >= self.every

    def add(self, name: str, step: int, losses: dict, lr: float, applied: dict, batch: int, seconds: float) -> None:
        self.pending.append((name, step, losses, lr, applied, batch, seconds))
        self.steps.add(step)

    def flush(self) -> None:
        if not self.pending:
            return
        scalars = [t for _, _, losses, _, applied, _, _ in self.pending for t in (*losses.values(), *applied.values())]
        device = torch.as_tensor(scalars[0]).device
        values = iter(torch.stack([torch.as_tensor(t).detach().float().reshape(()).to(device) for t in scalars]).tolist())
        for name, step, losses, lr, applied, batch, seconds in self.pending:
            read = {k: next(values) for k in losses}
            norms = {m: next(values) for m in applied}
            if not math.isfinite(read["total"]):
                raise Diverged(f"{name} diverged at step {step}: loss became {read['total']}; "
                               "lower the learning rate or alpha")
            self.observer(StepEvent(name, step, step / self.steps_per_epoch, read, lr, norms, batch / max(seconds, 1e-9)))
        self.pending, self.steps = [], set()


def train_experiment(
    config: ExperimentConfig,
    data: AVData,
    observer: Observer,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    t0 = time.perf_counter()
    # Weights decaying towards zero become denormal floats that slow CPU convolutions ~7x
    # (measured: a joint step went from 28 ms to 197 ms); flush them to zero.
    torch.set_flush_denormal(True)
    tc = config.train
    device = resolve_device(config.device)
    num_classes = data.num_classes

    # One initialisation, copied to every method; one data order, shared by all.
    init = build_model(config.model, num_classes, config.seed)
    methods = {name: create_method(name, config.method_params.get(name), torch.Generator().manual_seed(config.seed + 7919 * i))
               for i, name in enumerate(config.methods)}
    models = {name: copy.deepcopy(init).to(device).train() for name in methods}
    for name, method in methods.items():  # heads of their own (G-Blend, MLB, DI-MML): the shared weights stay as copied
        if method.heads:
            models[name].add_heads(method.heads, config.seed)
    optimizers = {name: make_optimizer(models[name], tc) for name in methods}
    order_rng = torch.Generator().manual_seed(config.seed)
    # The official CREMA-D pipeline augments training frames; our `paper` presets do too (from
    # the whole frame where the data keeps it: paper-exact).
    augment_rng = torch.Generator().manual_seed(config.seed + 2)
    augment = config.data.dataset != "synthetic" and config.data.preprocessing in AUGMENTED
    whole_frames = data.train_frames.to(device) if data.train_frames is not None else None
    bn_index = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(config.seed + 1))
    bn_split = data.train.subset(bn_index[: tc.precise_bn_samples]).to(device)
    train = data.train.to(device)  # once per run, not once per step

    n_train = len(data.train)
    batch_size = min(tc.batch_size, n_train)
    steps_per_epoch = n_train // batch_size  # drop the ragged last batch: BN needs > 1 sample
    total_steps = steps_per_epoch * tc.epochs
    evals_at = eval_steps(steps_per_epoch, tc.epochs, tc.evals_per_epoch)
    observer(PhaseEvent("train", f"{len(methods)} methods x {total_steps} steps on {device}"))
    # Official scores: the test split after every epoch, and the clips the official drop_last
    # test loader scores (with the configured batch size, as its loader).
    official = drop_last_subset(data.test_file_order, tc.batch_size) if tc.official_scores else None
    test_subsets = {OFFICIAL_KEY.removeprefix("acc_"): official} if official is not None else {}
    val_is_test = data.val is data.test
    for method in methods.values():  # G-Blend's validation losses, DI-MML's dimension statistics
        method.on_data(train, None if val_is_test else data.val.to(device))
    per_epoch: dict[str, list[dict]] = {name: [] for name in methods}

    def run_eval(step: int) -> None:
        epoch_end = tc.official_scores and step > 0 and step % steps_per_epoch == 0
        for name, method in methods.items():
            precise_bn(models[name], bn_split, method.modalities, tc.precise_bn_samples, device)
            metrics, _ = evaluate(models[name], method, data.val, num_classes, device,
                                  subsets=test_subsets if val_is_test else None)
            observer(EvalEvent(name, step, step / steps_per_epoch, "val", metrics))
            if epoch_end:
                if not val_is_test:
                    metrics, _ = evaluate(models[name], method, data.test, num_classes, device, subsets=test_subsets)
                    observer(EvalEvent(name, step, step / steps_per_epoch, "test", metrics))
                per_epoch[name].append(metrics)
            models[name].train()

    run_eval(0)
    steps_log = StepLog(observer, steps_per_epoch)
    use_bf16 = device.startswith("cuda") and (tc.precision == "bf16" or (tc.precision == "auto" and config.model.encoder == "resnet18"))
    step, t_train = 0, time.perf_counter()
    for epoch in range(tc.epochs):
        lr = learning_rate(tc, epoch)
        for opt in optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
        for name, method in methods.items():  # methods that schedule by epoch (InfoReg's window, MLA's turns)
            method.start_epoch(models[name], epoch, steps_per_epoch, tc.epochs)
        order = torch.randperm(n_train, generator=order_rng).to(device)
        for b in range(steps_per_epoch):
            index = order[b * batch_size : (b + 1) * batch_size]
            audio = train.audio[index]  # (B, 1, F, T)
            if whole_frames is not None:  # (B, T, 3, size, size) cut from the whole frames
                visual = crop_whole_frames(whole_frames[index], augment_rng, data.visual_spec.size, data.normalization)
            else:
                visual = train.visual[index]  # (B, T, 3, H, W)
                if augment:
                    visual = random_resized_crop_flip(visual, augment_rng)
            labels = train.labels[index]  # (B,)
            step += 1
            for name, method in methods.items():
                if should_stop():
                    raise Cancelled()
                model, opt = models[name], optimizers[name]
                t_step = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                    losses = method.backward(model, audio, visual, labels)
                applied = encoder_grad_norm_tensors(model, method.modalities)
                if step % tc.diagnostics_every == 0 or step == 1:
                    encoders = gradient_diagnostics(model, audio, visual, labels, method.modalities)
                    for m in encoders:
                        encoders[m]["applied"] = float(applied[m])
                    observer(DiagnosticsEvent(name, step, step / steps_per_epoch, encoders))
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                steps_log.add(name, step, losses, lr, applied, len(index), time.perf_counter() - t_step)
            if step in evals_at or steps_log.full:
                steps_log.flush()
            if step in evals_at:
                run_eval(step)
            elapsed = time.perf_counter() - t_train
            observer(ProgressEvent(step, total_steps, step / steps_per_epoch, elapsed, elapsed / step * (total_steps - step)))
    steps_log.flush()

    observer(PhaseEvent("test", "test split, confusion matrices and linear probes"))
    test = {}
    for name, method in methods.items():
        if should_stop():
            raise Cancelled()
        model = models[name]
        precise_bn(model, bn_split, method.modalities, tc.precise_bn_samples, device)
        metrics, confusion = evaluate(model, method, data.test, num_classes, device, detailed=True, subsets=test_subsets)
        metrics.update(best_epoch(per_epoch[name]))  # empty unless official scores were asked for
        train_feats = encode_split(model, data.train, method.modalities, device)
        test_feats = encode_split(model, data.test, method.modalities, device)
        for m in method.modalities:
            metrics[f"probe_{m}"] = linear_probe(train_feats[m], data.train.labels, test_feats[m], data.test.labels, num_classes)
        test[name] = metrics
        observer(TestEvent(name, metrics, confusion))
        model.eval()
    return TrainResult(models, methods, test, time.perf_counter() - t0)
