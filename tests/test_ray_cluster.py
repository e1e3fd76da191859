"""The Ray engine on a real two-node cluster on this machine (`ray start --head` plus a second
`ray start` joining it, each one CPU), with token authentication: a build run through it stores
exactly the local engine's facts. Each node is its own processes on free ports, under a private
temp folder; teardown ends only the processes that carry this cluster's marker in their
environment (Ray workers rename themselves, so command lines do not tell), never `ray stop`,
which would end every Ray on the machine."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from llm_support import free_port
from shelfgraph.store import Ledger

pytest.importorskip("ray", reason="ray is not installed: pip install 'shelfgraph[ray]'")

RAY = str(Path(sys.executable).with_name("ray"))


def _node_ports() -> list[str]:
    """Every port a node listens on, free ones: other Ray clusters on the machine keep theirs."""
    first = free_port()
    low = 20000 + (first % 20000)
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--min-worker-port", str(low), "--max-worker-port", str(low + 99),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]


MARKER = "SHELFGRAPH_TEST_RAY_CLUSTER"


def _cluster_processes(folder: str) -> list[int]:
    """Pids of the processes started for the cluster of `folder`: their environment says so."""
    mark = f"{MARKER}={folder}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _end(folder: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _cluster_processes(folder):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while _cluster_processes(folder) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    """(address, environment for its clients). A fresh token for this cluster alone, so it works
    whether or not ~/.ray/auth_token exists."""
    folder = tempfile.mkdtemp(prefix="sgray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", MARKER: folder}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                        f"--temp-dir={folder}", "--ray-client-server-port", str(free_port()),
                        "--dashboard-port", str(free_port()),
                        "--disable-usage-stats", *_node_ports()], env=env, check=True, capture_output=True,
                       timeout=180)
        subprocess.run([RAY, "start", f"--address={address}", "--num-cpus=1", *_node_ports()],
                       env=env, check=True, capture_output=True, timeout=180)
        yield address, {**env, "RAY_ADDRESS": address}
    finally:
        _end(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _alive_nodes(env: dict[str, str]) -> int:
    code = "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                         timeout=120)
    return int(out.stdout.strip().splitlines()[-1])


def _build(store: Path, catalog: Path, demo: Path, env: dict[str, str], *extra: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "shelfgraph.cli", "build", str(catalog), "--taxonomy",
                             str(demo / "taxonomy"), "--labelled", str(catalog.parent / "labelled.jsonl"),
                             "--store", str(store), "--method", "baseline", "--quiet", *extra],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _graph(store: Path) -> set[tuple[str, str, str, str, str]]:
    with Ledger(store) as ledger:
        return {(f.id, f.subject, f.predicate, f.object, f.status) for f in ledger.facts(status=None)}


@pytest.mark.timeout(900)
def test_a_two_node_cluster_builds_the_local_engines_facts(cluster, tmp_path, demo_data, shelfgraph_home):
    address, env = cluster
    assert _alive_nodes(env) == 2
    lines = (demo_data / "catalog.jsonl").read_text().splitlines()
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(lines[:20]) + "\n")
    labelled = (demo_data / "labelled.jsonl").read_text().splitlines()
    (tmp_path / "labelled.jsonl").write_text("\n".join(labelled[::4]) + "\n")
    local_env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    _build(tmp_path / "local.db", catalog, demo_data, local_env)
    summary = _build(tmp_path / "cluster.db", catalog, demo_data, env, "--engine", "ray", "--workers", "2")
    assert sum(step["done"] for step in summary["steps"]) > 20  # the steps ran, on the cluster
    assert _graph(tmp_path / "cluster.db") == _graph(tmp_path / "local.db")
