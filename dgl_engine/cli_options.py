"""The ``train`` and ``cache`` options, generated from the schema: one option per leaf, with its
help, range and default, whose text is parsed by the leaf's kind and checked against its range
when argparse reads it (so every occurrence of a flag is checked, not only the last).
"""

from __future__ import annotations

import argparse

from dgl_engine.errors import ConfigError
from dgl_engine.schema import Leaf, parse


def _positive_int(name):
    def parse_int(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {value}")
        return value
    return parse_int


def _leaf_help(leaf: Leaf) -> str:
    extra = [leaf.range_text()] if leaf.range_text() else []
    if leaf.choices:
        extra.append(" | ".join(leaf.choices))
    if leaf.registry:
        from dgl_engine.validate import registry_names

        extra.append(", ".join(registry_names(leaf.registry)))
    if leaf.kind in ("strs", "floats"):
        extra.append("comma-separated")
    if leaf.default not in (None, (), ""):
        shown = ",".join(map(str, leaf.default)) if isinstance(leaf.default, tuple) else leaf.default
        extra.append(f"default {shown}")
    return leaf.help + (f" ({'; '.join(extra)})" if extra else "")


def _typed(leaf: Leaf):
    """argparse ``type=``: the text parsed by the leaf's kind and checked against its range and
    choices, so every occurrence of a flag is checked (not only the last)."""
    from dgl_engine.validate import check_leaf

    def convert(text: str):
        try:
            value = parse(leaf, text)
            check_leaf(leaf, value)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    return convert


def _add_schema_options(parser: argparse.ArgumentParser, schema_leaves, prefix: str) -> None:
    """One option per schema leaf, typed and checked by the leaf."""
    for leaf in schema_leaves:
        dest = prefix + leaf.path
        if leaf.kind == "bool":
            parser.add_argument(leaf.flag, dest=dest, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=_leaf_help(leaf))
        else:
            parser.add_argument(leaf.flag, dest=dest, default=argparse.SUPPRESS, metavar=leaf.kind.upper(),
                                type=_typed(leaf), help=_leaf_help(leaf))
