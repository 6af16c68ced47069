"""Gradient diagnostics: the paper's central picture, measured on a live batch.

For each encoder: the norm of the gradient it would receive from the fused loss, the norm it
would receive from its own unimodal loss (same head, other modality zeroed), and their cosine,
whatever the method actually trains with. All before clipping. Under fusion, once one modality
is confident the fused error reaching the other encoder shrinks: fused << unimodal.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from dgl_engine.models.av_model import AVModel


@contextmanager
def batchnorm_kept(model: nn.Module):
    """Run a forward pass that leaves BatchNorm's running averages as they were: a diagnostic
    pass must not count a batch twice in the statistics the test pass uses (the paper protocol
    keeps the running averages instead of re-estimating them)."""
    saved = [(buf, buf.clone()) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for buf in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def gradient_diagnostics(model: AVModel, audio: torch.Tensor, visual: torch.Tensor, labels: torch.Tensor, modalities) -> dict:
    """{"audio": {"fused", "unimodal", "cosine"}, "visual": {...}} for the given encoders.

    The fused terms need both encoders; unimodal methods (one modality) get "unimodal" only.
    Does not touch ``.grad``: uses torch.autograd.grad on a separate forward pass.
    """
    with batchnorm_kept(model):  # restored once the gradients are taken (autograd saves the buffers)
        return _diagnostics(model, audio, visual, labels, modalities)


def _diagnostics(model: AVModel, audio, visual, labels, modalities) -> dict:
    head = model.fusion_head
    feats = {m: model.encode(m, audio if m == "audio" else visual) for m in modalities}  # (B, D)
    params = {m: [p for p in model.encoder(m).parameters() if p.requires_grad] for m in modalities}
    unimodal_loss = sum(F.cross_entropy(head.unimodal_logits(m, feats[m]), labels) for m in modalities)
    flat_params = [p for m in modalities for p in params[m]]
    multimodal = len(modalities) == 2
    g_uni = torch.autograd.grad(unimodal_loss, flat_params, retain_graph=multimodal)
    if multimodal:
        fused_loss = F.cross_entropy(head(feats["audio"], feats["visual"]), labels)
        g_fused = torch.autograd.grad(fused_loss, flat_params)
    out, start = {}, 0
    for m in modalities:
        n = len(params[m])
        u = _flat(g_uni[start : start + n])
        entry = {"unimodal": float(u.norm())}
        if multimodal:
            f = _flat(g_fused[start : start + n])
            entry["fused"] = float(f.norm())
            entry["cosine"] = float(F.cosine_similarity(f, u, dim=0))
        out[m] = entry
        start += n
    return out


def encoder_grad_norm_tensors(model: AVModel, modalities) -> dict[str, torch.Tensor]:
    """L2 norm of the gradient currently in each encoder's ``.grad`` (what the method applied),
    as 0-d tensors on the model's device: reading them is left to the caller, in batches, so a
    GPU step does not wait for the host."""
    out = {}
    for m in modalities:
        grads = [p.grad.reshape(-1) for p in model.encoder(m).parameters() if p.grad is not None]
        out[m] = torch.cat(grads).norm() if grads else torch.zeros(())
    return out


def encoder_grad_norms(model: AVModel, modalities) -> dict[str, float]:
    """``encoder_grad_norm_tensors`` read as floats."""
    return {m: float(v) for m, v in encoder_grad_norm_tensors(model, modalities).items()}
