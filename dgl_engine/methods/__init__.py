"""Training methods, in a small registry: ``METHODS[name]``.

Adding a method: one file here (a ``Method`` subclass with its ``params``, ``routing`` and
``backward``), one line in ``METHODS``, and its tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from dgl_engine.errors import unknown
from dgl_engine.methods.agm import AGM
from dgl_engine.methods.base import Method, Param, resolve_params
from dgl_engine.methods.dgl import DGL
from dgl_engine.methods.di_mml import DIMML
from dgl_engine.methods.gblend import GBlend
from dgl_engine.methods.mlb import MLB
from dgl_engine.methods.dgl_ablations import DGLNoFusedCut, DGLNoUniCut
from dgl_engine.methods.inforeg import InfoReg
from dgl_engine.methods.joint import Joint
from dgl_engine.methods.mla import MLA
from dgl_engine.methods.mmpareto import MMPareto
from dgl_engine.methods.ogm_ge import OGMGE
from dgl_engine.methods.opm import OPM
from dgl_engine.methods.pmr import PMR
from dgl_engine.methods.uni_aux import UniAux
from dgl_engine.methods.unimodal import AudioOnly, VisualOnly

METHODS: dict[str, type[Method]] = {
    "audio-only": AudioOnly,
    "visual-only": VisualOnly,
    "joint": Joint,
    "dgl": DGL,
    "ogm-ge": OGMGE,
    "uni-aux": UniAux,
    "dgl-no-fused-cut": DGLNoFusedCut,
    "dgl-no-uni-cut": DGLNoUniCut,
    "mmpareto": MMPareto,
    "pmr": PMR,
    "agm": AGM,
    "opm": OPM,
    "inforeg": InfoReg,
    "mla": MLA,
    "gblend": GBlend,
    "mlb": MLB,
    "di-mml": DIMML,
}


FAMILIES = ("references", "DGL and its ablations", "gradient modulation", "objectives and regularisers", "data-level")


def method_class(name: str) -> type[Method]:
    if name not in METHODS:
        raise unknown("method", name, METHODS)
    return METHODS[name]


def create_method(name: str, params: Mapping[str, float] | None = None, generator: torch.Generator | None = None) -> Method:
    return method_class(name)(params, generator)


def describe_methods() -> dict:
    """{name: {"modalities", "routing", "family", "heads", "params": {p: {"default", "min", "max", "help"}}}}."""
    return {name: {"modalities": list(cls.modalities), "routing": cls.routing, "family": cls.family, "heads": list(cls.heads),
                   "params": {p: spec.to_dict() for p, spec in cls.params.items()}}
            for name, cls in METHODS.items()}


__all__ = ["FAMILIES", "METHODS", "Method", "Param", "create_method", "describe_methods", "method_class", "resolve_params"]
