"""Runs inside the sandbox (network `allow`): relay 127.0.0.1:PORT to the egress proxy's unix socket, then run
the command and exit with its status.

Usage: python -I -S forwarder.py SOCKET PORT COMMAND... — standard library only, no imports from
orchestrator (the sandbox does not see the checkout). The listening socket exists before the command starts,
so the command's first connection cannot race it.
"""

import os
import select
import socket
import sys
import threading


def relay(client: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
        pipe(client, upstream)
    except OSError:
        pass
    finally:
        client.close()
        upstream.close()


def pipe(a: socket.socket, b: socket.socket, stopped: threading.Event | None = None) -> None:
    """Relay bytes both ways until both sides are done (a half-close is passed on) or `stopped` is set.
    The egress proxy relays its connections with it too."""
    peers = {a: b, b: a}
    readable = [a, b]
    while readable and not (stopped is not None and stopped.is_set()):
        ready, _, _ = select.select(readable, [], [], 0.5)
        for sock in ready:
            chunk = sock.recv(65536)
            if chunk:
                peers[sock].sendall(chunk)
                continue
            readable.remove(sock)
            try:
                peers[sock].shutdown(socket.SHUT_WR)
            except OSError:
                pass


def serve(listener: socket.socket, socket_path: str) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, socket_path), daemon=True).start()


def main(argv: list[str]) -> int:
    socket_path, port, command = argv[1], int(argv[2]), argv[3:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    pid = os.fork()
    if pid == 0:
        listener.close()
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"cannot start {command[0]!r}: {exc}\n")
            os._exit(127)
    threading.Thread(target=serve, args=(listener, socket_path), daemon=True).start()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
