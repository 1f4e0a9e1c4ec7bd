"""``python -m mlaas_kernel.server_ext._prebound PORT PROGRAM...``: bind 127.0.0.1:PORT first, then
become PROGRAM with that listening socket as its stdin (``uvicorn --fd 0``).

Why: jupyter-server-proxy asks a starting program for its page with a doubling back-off (answers
after 10.2, 20.5, 41 s...). With the socket already listening, its first request waits in the
backlog instead of being refused, and is answered as soon as the program serves: MLflow's UI
opens when MLflow is ready, not up to twice as late.
"""

from __future__ import annotations

import os
import socket
import sys


def main(argv: list[str]) -> None:
    port, program = int(argv[0]), argv[1:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    os.dup2(sock.fileno(), 0)  # inherited by the program and by the uvicorn process `mlflow server` starts
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
