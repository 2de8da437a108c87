"""The deployment files say what the README promises: the systemd unit and the Dockerfile.

Neither can run here (no systemd as PID 1, no Docker engine): the unit is read key by
key, and verified by `systemd-analyze verify` where that exists; the Dockerfile is read
instruction by instruction, and what it copies and runs is checked against the tree.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from presswatch.config import Config
from presswatch.scheduler.cli import main

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "scheduler" / "presswatch.service"


def unit_keys(text: str) -> dict[str, list[str]]:
    """`Section.Key` -> its values in order (systemd keys may repeat)."""
    keys: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        keys.setdefault(f"{section}.{key}", []).append(value)
    return keys


def test_the_unit_restarts_runs_as_its_own_user_and_writes_only_its_data_folder():
    keys = unit_keys(UNIT.read_text())
    service = {key.split(".", 1)[1]: values[-1] for key, values in keys.items() if key.startswith("Service.")}
    assert service["Restart"] == "always" and int(service["RestartSec"]) > 0
    assert service["User"] == "presswatch" and service["Group"] == "presswatch"
    for key, value in {"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true",
                       "PrivateTmp": "true", "PrivateDevices": "true", "ProtectKernelTunables": "true",
                       "ProtectControlGroups": "true", "RestrictSUIDSGID": "true", "LockPersonality": "true",
                       "KillSignal": "SIGTERM", "CapabilityBoundingSet": ""}.items():
        assert service[key] == value, key
    assert service["ReadWritePaths"].split() == ["/var/lib/presswatch"]
    assert service["StateDirectory"] == "presswatch" and service["WorkingDirectory"] == "/var/lib/presswatch"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert service["EnvironmentFile"].lstrip("-") == "/etc/presswatch/secrets.env"
    # Long enough for a clean stop: crawls and a send in flight, each bounded by a timeout.
    defaults = Config()
    needed = max(defaults.crawl.timeout, defaults.delivery.timeout).total_seconds()
    assert int(service["TimeoutStopSec"]) >= 2 * needed
    assert "MemoryDenyWriteExecute" not in service  # see the unit's comment
    assert keys["Install.WantedBy"] == ["multi-user.target"]


def test_the_unit_runs_commands_that_exist():
    keys = unit_keys(UNIT.read_text())
    for key in ("Service.ExecStartPre", "Service.ExecStart"):
        for value in keys[key]:
            program, command, *_ = value.split()
            assert program == "/opt/presswatch/bin/presswatch"
            assert command in main.commands
    assert keys["Service.ExecStart"] == ["/opt/presswatch/bin/presswatch run"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # verify checks that ExecStart's program exists: point it at this presswatch.
    presswatch = Path(sys.executable).with_name("presswatch")
    unit = tmp_path / "presswatch.service"
    unit.write_text(UNIT.read_text().replace("/opt/presswatch/bin/presswatch", str(presswatch)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "presswatch.service" not in result.stderr, result.stderr  # no warning about our unit


# The Dockerfile ------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    found, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


DOCKERFILE = instructions((ROOT / "Dockerfile").read_text())


def last(name: str) -> str:
    return [args for word, args in DOCKERFILE if word == name][-1]


def test_the_image_runs_presswatch_as_an_unprivileged_user_with_data_in_a_volume():
    words = {word for word, _ in DOCKERFILE}
    known = {"ARG", "FROM", "ENV", "RUN", "COPY", "LABEL", "USER", "WORKDIR", "VOLUME", "EXPOSE",
             "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD"}
    assert words <= known, words - known
    args = dict(a.split("=", 1) for w, a in DOCKERFILE if w == "ARG")
    bases = [a.split()[0].replace("${PYTHON_VERSION}", args["PYTHON_VERSION"]) for w, a in DOCKERFILE if w == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]
    assert last("USER") not in ("root", "0") and "useradd" in last("RUN")
    assert json.loads(last("VOLUME")) == ["/data"] and last("WORKDIR") == "/data"
    assert "PRESSWATCH_CONFIG=/data/presswatch.yaml" in last("ENV")
    assert json.loads(last("ENTRYPOINT")) == ["presswatch"] and json.loads(last("CMD")) == ["run"]
    assert "run" in main.commands
    assert last("STOPSIGNAL") == "SIGTERM"


def test_the_health_check_asks_the_monitor_endpoint_with_python():
    healthcheck = last("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")  # valid Python
    url = re.search(r"PRESSWATCH_HEALTHZ=(\S+)", last("ENV")).group(1)
    # It asks the monitor at the port the config listens on by default, from inside.
    assert url == f"http://{Config().monitor.listen}/healthz"
    assert re.search(r"--start-period=\d+", healthcheck)


def test_the_image_gets_the_package_and_not_the_rest():
    ignored = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    copied = []
    for word, arguments in DOCKERFILE:
        if word == "COPY" and "--from" not in arguments:
            copied += arguments.split()[:-1]
    assert set(copied) == {"pyproject.toml", "README.md", "config", "crawler", "scheduler"}
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
    for kept_out in ("tests", "bench", ".git", "*.db"):
        assert kept_out in ignored
    assert any(word == "RUN" and "pip install /src" in arguments for word, arguments in DOCKERFILE)
