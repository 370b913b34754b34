"""The egress proxy runs on threads of our own process: an agent that opens connections and sends nothing
must cost us a bounded number of threads, and the proxy must keep serving once they go."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from orchestrator.config.isolation import Network, parse_allow_entry
from orchestrator.containment.egress import MAX_CLIENTS, EgressProxy
from tests.containment.test_egress import echo_server, proxy_request

HOLD_IDLE = """
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:  # a full backlog refuses at once (EAGAIN): try again briefly
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.setblocking(False)
        try:
            client.connect(sys.argv[1])
            held.append(client)
            break
        except OSError:
            client.close()
            time.sleep(0.005)
print(len(held), flush=True)
time.sleep(60)
"""


def test_hundreds_of_idle_connections_cost_a_bounded_number_of_threads(tmp_path: Path) -> None:
    server, port = echo_server()
    network = Network(mode="allow", hosts=(parse_allow_entry(f"127.0.0.1:{port}"),))
    path = tmp_path / "egress.sock"
    try:
        with EgressProxy(path, network):
            before = threading.active_count()
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_IDLE, str(path), str(MAX_CLIENTS + 100)], stdout=subprocess.PIPE
            )
            try:
                assert holder.stdout is not None
                held = int(holder.stdout.readline())
                time.sleep(0.5)
                assert held > MAX_CLIENTS, "the agent's side did open more connections than the cap"
                assert threading.active_count() - before <= MAX_CLIENTS
            finally:
                holder.kill()
                holder.wait()
            deadline = time.monotonic() + 10
            reply = b""
            while time.monotonic() < deadline and not reply.startswith(b"HTTP/1.1 200"):
                try:
                    reply = proxy_request(
                        path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode(), b"ping"
                    )
                except OSError:
                    time.sleep(0.1)
            assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"|ping")
    finally:
        server.close()
