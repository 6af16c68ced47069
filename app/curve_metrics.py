"""The curve metrics a set of runs recorded, read from their events, and each one's points.

Nothing here lists metrics by hand: a validation metric, a loss term, an encoder or a gradient
diagnostic appears because some run's events carry it (methods and evaluation modes added later,
e.g. a ``head`` mode's ``acc_audio_head``, show up by themselves). Every curve is drawn against
the epoch, so runs of different dataset or batch sizes line up. No Streamlit and no plotly here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Points = list[tuple[float, float]]  # (epoch, value)

# Accuracy-like values are fractions in the engine and percent on screen.
_PERCENT = re.compile(r"^(acc|probe|macro_f1|shapley)(_|$)")
_BOUNDED = re.compile(r"^(acc|probe|macro_f1)(_|$)")  # percentages that live in [0, 100]
_EVAL_ORDER = ("acc", "probe", "macro_f1", "shapley", "imbalance_ratio", "loss")
DIAGNOSTIC_WORDS = {  # a gradient diagnostic's field -> what it measures
    "fused": "norm from the fused loss",
    "unimodal": "norm from its unimodal loss",
    "applied": "norm the method applied",
    "cosine": "cosine(fused, unimodal)",
}


@dataclass(frozen=True)
class CurveMetric:
    """One curve a run can be compared on: where its values come from and how to draw them."""

    id: str  # "eval/acc", "loss/fused", "grad/audio", "ratio/visual", "diag/audio/cosine", "lr"
    label: str  # what the picker and the chart's axis say
    percent: bool = False  # shown x 100 (accuracies: %, Shapley contributions: points)
    bounded: bool = False  # a percentage in [0, 100]: fixed axis range, so runs compare at a glance
    log: bool = False  # spans decades (norms, ratios): a log axis
    markers: bool = False  # few points (validation): markers on the line

    @property
    def axis(self) -> str:
        unit = " (%)" if self.bounded else " (points)" if self.percent else ""
        return self.label + unit + (" (log scale)" if self.log else "")


def eval_label(key: str) -> str:
    """Words for a validation metric key: 'acc_audio_head' -> 'validation accuracy: audio (head mode)'."""
    m = re.fullmatch(r"(acc|macro_f1)(?:_([a-z]+?))?(?:_([a-z]+))?", key)
    if m:
        what = {"acc": "validation accuracy", "macro_f1": "validation macro F1"}[m[1]]
        if not m[2]:
            return f"{what}: fused"
        return f"{what}: {m[2]} ({m[3] or 'zero'} mode)"
    m = re.fullmatch(r"(probe|shapley)_([a-z]+)", key)
    if m:
        return f"validation linear probe: {m[2]} encoder" if m[1] == "probe" else f"{m[2]}'s Shapley contribution (validation)"
    return {"loss": "validation loss", "imbalance_ratio": "imbalance ratio (validation; 1 = balanced)"}.get(key, f"validation {key}")


def _eval_rank(key: str) -> tuple[int, int, str]:
    prefix = next((i for i, p in enumerate(_EVAL_ORDER) if key == p or key.startswith(p + "_")), len(_EVAL_ORDER))
    return prefix, key.count("_"), key  # within a family: fused, then zero mode, then other modes


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def catalogue(event_lists: Iterable[Sequence[Mapping]]) -> list[CurveMetric]:
    """Every curve metric found in any of the runs' events: validation metrics first (fused
    accuracy leading), then the gradient ratio and diagnostics, training losses, gradient norms
    and the learning rate."""
    evals, ratios, diags, losses, grads, lr = set(), set(), set(), set(), set(), False
    for events in event_lists:
        for e in events:
            kind = e.get("type")
            if kind == "eval" and e.get("split", "val") == "val":
                evals.update(k for k, v in (e.get("metrics") or {}).items() if _number(v))
            elif kind == "diagnostics":
                for enc, d in (e.get("encoders") or {}).items():
                    diags.update((enc, f) for f, v in d.items() if _number(v))
                    if _number(d.get("fused")) and _number(d.get("unimodal")):
                        ratios.add(enc)
            elif kind == "step":
                losses.update(k for k, v in (e.get("losses") or {}).items() if _number(v))
                grads.update(k for k, v in (e.get("grad_norm") or {}).items() if _number(v))
                lr = lr or _number(e.get("lr"))
    found = [CurveMetric(f"eval/{k}", eval_label(k), percent=bool(_PERCENT.match(k)), bounded=bool(_BOUNDED.match(k)),
                         log=k == "imbalance_ratio", markers=True) for k in sorted(evals, key=_eval_rank)]
    found += [CurveMetric(f"ratio/{enc}", f"gradient ratio at the {enc} encoder: fused / unimodal norm", log=True)
              for enc in sorted(ratios)]
    found += [CurveMetric(f"diag/{enc}/{f}", f"gradient at the {enc} encoder: {DIAGNOSTIC_WORDS.get(f, f)}", log=f != "cosine")
              for enc, f in sorted(diags)]
    found += [CurveMetric(f"loss/{t}", f"training loss: {t}") for t in sorted(losses, key=lambda t: (t != "total", t != "fused", t))]
    found += [CurveMetric(f"grad/{enc}", f"gradient norm reaching the {enc} encoder (per step, before clipping)", log=True)
              for enc in sorted(grads)]
    if lr:
        found.append(CurveMetric("lr", "learning rate", log=True))
    return found


def _value(e: Mapping, metric_id: str):
    """The event's value for the metric, or None when the event does not carry it."""
    kind, *path = metric_id.split("/")
    if kind == "eval":
        return (e.get("metrics") or {}).get(path[0]) if e.get("type") == "eval" and e.get("split", "val") == "val" else None
    if kind in ("ratio", "diag"):
        d = (e.get("encoders") or {}).get(path[0]) if e.get("type") == "diagnostics" else None
        if not d:
            return None
        if kind == "diag":
            return d.get(path[1])
        fused, unimodal = d.get("fused"), d.get("unimodal")
        return fused / unimodal if _number(fused) and _number(unimodal) and unimodal > 0 else None
    if e.get("type") != "step":
        return None
    if kind == "loss":
        return (e.get("losses") or {}).get(path[0])
    if kind == "grad":
        return (e.get("grad_norm") or {}).get(path[0])
    return e.get("lr") if kind == "lr" else None


def series(events: Sequence[Mapping], metric: CurveMetric, methods: Sequence[str] | None = None) -> dict[str, Points]:
    """{method: [(epoch, value), ...]} of one run, in the order methods first appear (only
    ``methods`` when given); values in display units (x 100 for percentages)."""
    scale = 100.0 if metric.percent else 1.0
    out: dict[str, Points] = {}
    for e in events:
        method = e.get("method")
        if not method or (methods and method not in methods):
            continue
        v = _value(e, metric.id)
        if _number(v) and _number(e.get("epoch")) and not (metric.log and v <= 0):
            out.setdefault(method, []).append((float(e["epoch"]), scale * float(v)))
    return out
