"""Which epoch's number is reported.

Ours (every protocol): the final epoch, on every test clip: the model a user would keep.
The official code's (``train.official_scores``): after every epoch it scores the test set, and
reports the best of those scores (``main_dgl.py`` lines 298-350: ``best_acc = 0.0``, then
``if acc > best_acc and epoch:``). That is model selection on the test set, an optimistic
figure; we report it beside ours, labelled as such, never instead.
"""

from __future__ import annotations

OFFICIAL_KEY = "acc_official_subset"  # the clips the official drop_last test loader scores


def best_epoch(history: list[dict]) -> dict:
    """``history``: the test metrics after each epoch, first epoch first. -> {"acc_best_epoch",
    "best_epoch"} as the official loop selects them: on the official subset when it has clips
    (else on every test clip), strictly greater than the best so far (the first of equal
    bests), never the first epoch (``and epoch``: epoch 0 is skipped). A run whose later epochs
    never beat 0, or that has one epoch, reports its first. ``best_epoch`` counts from 1."""
    if not history:
        return {}
    key = OFFICIAL_KEY if all(OFFICIAL_KEY in h for h in history) else "acc"
    best, at = 0.0, None
    for epoch, metrics in enumerate(history):
        if metrics[key] > best and epoch:
            best, at = metrics[key], epoch
    if at is None:
        best, at = history[0][key], 0
    return {"acc_best_epoch": best, "best_epoch": at + 1}
