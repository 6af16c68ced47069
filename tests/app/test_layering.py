"""One-way layering: app/ reaches the engine through dgl_engine.api only, and dgl_engine/ never
imports streamlit or plotly (read from the source, and checked again by importing it all)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOOR = "dgl_engine.api"
UI = ("streamlit", "plotly")
NOT_YET_THROUGH_THE_DOOR: set[str] = set()


def _imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a file, at any depth (inside functions too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def engine_imports(path: Path) -> set[str]:
    """The dgl_engine modules a file imports: ``from dgl_engine import api`` gives dgl_engine.api,
    ``from dgl_engine.api import Engine`` and ``import dgl_engine.api`` too; ``import dgl_engine``
    gives dgl_engine."""
    found = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dgl_engine")
        elif node.level == 0 and node.module == "dgl_engine":
            found.update(f"dgl_engine.{a.name}" for a in node.names)
        elif node.level == 0 and node.module.split(".")[0] == "dgl_engine":
            found.add(node.module)
    return found


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages a file imports (absolute imports only)."""
    found = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def test_app_imports_the_engine_only_through_its_door():
    stray = {}
    for path in _files("app"):
        name = path.relative_to(REPO).as_posix()
        other = engine_imports(path) - {DOOR}
        if other and name not in NOT_YET_THROUGH_THE_DOOR:
            stray[name] = sorted(other)
    assert stray == {}, f"app/ imports engine modules other than {DOOR}: {stray}"
    users = {p.name for p in _files("app") if DOOR in engine_imports(p)}
    assert {"state.py", "predict.py"} <= users  # the check sees the imports it guards


def test_the_engine_source_never_imports_ui_libraries():
    """Also inside functions, where importing every module would not show it."""
    ui = {path.relative_to(REPO).as_posix(): sorted(top_level_imports(path) & set(UI)) for path in _files("dgl_engine")}
    assert {name: found for name, found in ui.items() if found} == {}
    assert "dgl_engine/api.py" in ui


def test_the_engine_never_imports_ui_libraries():
    """Every engine module imported in a fresh interpreter loads neither library, not even through
    a dependency."""
    code = (
        "import importlib, pkgutil, sys, json\n"
        "import dgl_engine, dgl_engine.engine, dgl_engine.cli, dgl_engine.lifecycle\n"
        "names = [m.name for m in pkgutil.walk_packages(dgl_engine.__path__, 'dgl_engine.') if not m.name.endswith('__main__')]\n"
        "for n in names: importlib.import_module(n)\n"
        "print(json.dumps({'modules': names, 'ui': sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly'))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"dgl_engine.api", "dgl_engine.trainer", "dgl_engine.store", "dgl_engine.methods.dgl",
            "dgl_engine.data.synthetic"} <= set(result["modules"])
    assert result["ui"] == []
