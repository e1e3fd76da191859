"""Helpers for the LLM tests: a real llama_cpp.server on 127.0.0.1, and a tiny fake
OpenAI-compatible server for the faults a real one does not produce on demand."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import httpx

if TYPE_CHECKING:
    from click.testing import Result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(model: Path, log: Path, timeout_s: float = 120.0,
                       api_key: str | None = None) -> tuple[subprocess.Popen, str]:
    """Start `python -m llama_cpp.server` on a free port (refusing clients without `api_key`,
    when given); wait until it lists its model."""
    from shelfgraph.llm.server import server_command

    port = free_port()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with open(log, "wb") as out:
        process = subprocess.Popen(server_command(model, port=port, n_ctx=2048, api_key=api_key),
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v1/models", headers=headers, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"llama_cpp.server did not come up in {timeout_s}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


LLAMA_CPP_MODELS = {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "me"}]}


class FakeServer:
    """Answers GETs with `get(path)` (by default /v1/models like llama_cpp.server) and every POST
    with `respond(path, body)`, which returns (status, json body) or sleeps. Counts the POSTs,
    keeps their bodies and every request's Authorization header."""

    def __init__(self, respond: Callable[[str, dict], tuple[int, dict]],
                 get: Callable[[str], tuple[int, dict]] = lambda path: (200, LLAMA_CPP_MODELS)):
        self.posts = 0
        self.bodies: list[dict] = []
        self.authorizations: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.authorizations.append(self.headers.get("Authorization"))
                self._send(*get(self.path))

            def do_POST(self):
                fake.posts += 1
                fake.authorizations.append(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                try:
                    self._send(*respond(self.path, body))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts connections and never answers: a model server that hangs. Counts connections."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.connections.append(self.socket.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()


def chat_completion(content: str) -> dict:
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content,
                                 "tool_calls": [{"id": "t", "type": "function",
                                                 "function": {"name": "Product", "arguments": content}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def type_agent_build(store: Path, demo: Path, tmp_path: Path, url: str, *options: str) -> Result:
    """A one-product `build` whose type step is the agent (one model call), the rest baselines
    learning from a quarter of the labelled examples (quick to train)."""
    from typer.testing import CliRunner

    from shelfgraph.cli import app

    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text((demo / "catalog.jsonl").read_text().splitlines()[0] + "\n")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("\n".join((demo / "labelled.jsonl").read_text().splitlines()[::4]) + "\n")
    config = tmp_path / "build.toml"
    config.write_text('method = "baseline"\n[steps.type]\nmethod = "agent"\n')
    return CliRunner().invoke(app, ["build", str(catalog), "--taxonomy", str(demo / "taxonomy"), "--labelled",
                                    str(labelled), "--store", str(store), "--config", str(config), "--llm", url,
                                    "--quiet", *options])
