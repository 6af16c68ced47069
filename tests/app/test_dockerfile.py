"""No Docker engine runs here: check the Dockerfile against the Makefile instead. Both must install
the same requirements.txt and start the same entry point (app/main.py)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def make_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def make_variables() -> dict[str, str]:
    out = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"^([A-Z_]+)\s*[:?]?=\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def requirement_files(commands: list[str]) -> set[str]:
    return {m for c in commands for m in re.findall(r"-r\s+(\S+)", c)}


def streamlit_script(words: list[str]) -> str:
    i = words.index("streamlit")
    assert words[i + 1] == "run", words
    return words[i + 2]


def test_same_requirements_as_the_makefile():
    setup = make_recipe("$(VENV)/.installed")
    docker_runs = instructions("RUN")
    assert requirement_files(setup) == {"requirements.txt"}
    assert requirement_files(docker_runs) == requirement_files(setup)
    assert any(args.split()[0] in ("requirements.txt", "./requirements.txt") for args in instructions("COPY"))


def test_same_entry_point_as_make_run():
    run = " ".join(make_recipe("run"))
    make_words = shlex.split(run)
    entry = json.loads(instructions("ENTRYPOINT")[0])
    assert streamlit_script(make_words) == streamlit_script(entry) == "app/main.py"
    assert (ROOT / "app" / "main.py").is_file()
    port = re.search(r"--server\.port[= ](\d+)", " ".join(entry)).group(1)
    assert instructions("EXPOSE") == [port]
    assert make_variables()["PORT"] == port  # the same default port as `make run`
    assert "--server.address=0.0.0.0" in entry


def test_cpu_torch_matches_the_pinned_version():
    pinned = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    cpu = [r for r in instructions("RUN") if "download.pytorch.org/whl/cpu" in r]
    assert cpu and f"torch=={pinned}" in cpu[0]
    assert cpu[0].index("whl/cpu") < cpu[0].index("-r requirements.txt")  # CPU torch first


def test_image_basics():
    assert instructions("FROM")[0].startswith("python:3.11-slim")
    assert "curl --fail http://localhost:8501/_stcore/health" in instructions("HEALTHCHECK")[0]
    assert any("curl" in r and "apt-get install" in r for r in instructions("RUN"))
    user = instructions("USER")
    assert user and user[-1] not in ("root", "0")
    assert "/data/runs" in instructions("VOLUME")[0]
    assert any(re.search(r"DGL_LAB_HOME=/data/runs", e) for e in instructions("ENV"))
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "runs" in ignored
