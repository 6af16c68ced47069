"""Reading the schema in ``config.py``: its leaves (one per setting a user can change), their
CLI flags, and setting values by dotted path.

    for leaf in leaves(ExperimentConfig): leaf.path, leaf.flag, leaf.kind, leaf.help, leaf.min ...
    config = override(ExperimentConfig(), {"train.epochs": 3, "data.synthetic.audio.difficulty": 0.2})

The CLI builds its options from ``leaves`` and the Experiment form takes each widget's bounds
and help from ``leaf(path)``; both turn what the user chose into a config with ``override``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import lru_cache

from dgl_engine.config import ExperimentConfig
from dgl_engine.errors import ConfigError


@dataclass(frozen=True)
class Leaf:
    """One setting: where it lives, how the CLI names it, what values it takes."""

    path: str  # "data.synthetic.audio.difficulty"
    flag: str  # "--audio-difficulty"
    kind: str  # int | float | bool | str | strs (tuple of str) | floats (tuple of float)
    optional: bool  # None is a valid value (e.g. per_class: no limit)
    default: object
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    registry: str | None = None
    max_len: int | None = None
    label: str = ""  # the setting in words, for people: "audio difficulty"

    @property
    def key(self) -> str:
        """The Experiment form's widget key: exp_ + the flag's words ("exp_audio_difficulty")."""
        return "exp_" + self.flag[2:].replace("-", "_")

    def range_text(self) -> str:
        def num(x) -> str:  # whole bounds in full: a seed's 2147483647, not 2.14748e+09
            return str(x) if isinstance(x, int) else f"{x:g}"

        lo = "" if self.min is None else ("(" if self.min_open else "[") + num(self.min)
        hi = "" if self.max is None else num(self.max) + (")" if self.max_open else "]")
        return f"{lo}, {hi}" if lo and hi else (f">{'' if self.min_open else '='} {num(self.min)}" if lo else
                                                 f"<{'' if self.max_open else '='} {num(self.max)}" if hi else "")


def _kind(tp) -> tuple[str, bool]:
    """('int' | 'float' | ..., optional) from a field's type annotation."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _kind(inner)[0], True
    if typing.get_origin(tp) is tuple:
        return ("floats" if args and args[0] is float else "strs"), False
    return tp.__name__, False


def _walk(cls, path: str, prefix: str) -> list[Leaf]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _walk(tp, f"{path}{f.name}.", prefix + (meta.get("prefix") or ""))
            continue
        if f.name == "method_params":  # per-method: read from the method registry, not here
            continue
        kind, optional = _kind(tp)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = meta.get("flag") or "--" + prefix + f.name.replace("_", "-")
        out.append(Leaf(f"{path}{f.name}", flag, kind, optional, default, meta.get("help", ""),
                        meta.get("min"), meta.get("max"), meta.get("min_open", False), meta.get("max_open", False),
                        meta.get("choices"), meta.get("registry"), meta.get("max_len"),
                        meta.get("label") or flag[2:].replace("-", " ")))
    return out


@lru_cache(maxsize=None)
def leaves(cls=ExperimentConfig) -> tuple[Leaf, ...]:
    """Every setting of a schema dataclass, depth first, in declaration order."""
    return tuple(_walk(cls, "", ""))


def leaf(path: str, cls=ExperimentConfig) -> Leaf:
    for x in leaves(cls):
        if x.path == path:
            return x
    raise ConfigError(f"unknown setting {path!r}; valid: {', '.join(x.path for x in leaves(cls))}")


def get(config, path: str):
    value = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def override(config, values: dict[str, object]):
    """``config`` with the settings at these dotted paths replaced (nested dataclasses.replace)."""
    for path, value in values.items():
        config = _replace(config, path.split("."), value)
    return config


def _replace(obj, parts: list[str], value):
    if not dataclasses.is_dataclass(obj) or parts[0] not in {f.name for f in dataclasses.fields(obj)}:
        raise ConfigError(f"unknown setting {'.'.join(parts)!r}")
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    return dataclasses.replace(obj, **{parts[0]: _replace(getattr(obj, parts[0]), parts[1:], value)})


def parse(leaf: Leaf, text: str):
    """A value for ``leaf`` from the text a user typed (CLI, a sweep, a URL). ConfigError if
    it is not of the leaf's kind; ranges are checked by ``validate``."""
    text = text.strip()
    if leaf.optional and text.lower() in ("", "none"):
        return None
    try:
        if leaf.kind == "int":
            return int(text)
        if leaf.kind == "float":
            return float(text)
        if leaf.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if leaf.kind == "strs":
            return tuple(x.strip() for x in text.split(",") if x.strip())
        if leaf.kind == "floats":
            return tuple(float(x) for x in text.split(",") if x.strip())
        return text
    except ValueError:
        what = {"int": "a whole number", "float": "a number", "bool": "true or false",
                "floats": "comma-separated numbers"}.get(leaf.kind, "text")
        raise ConfigError(f"{leaf.flag} must be {what}, got {text!r}") from None
