"""Whether a TCP port is free to bind: one check for the CLI's servers and the tracking server."""

from __future__ import annotations

import socket


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` on ``host`` (an IPv4 or IPv6 address, or a name) can be bound now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
