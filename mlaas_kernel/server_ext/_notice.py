"""``python -m mlaas_kernel.server_ext._notice PORT TITLE MESSAGE``: a one-page server a launcher runs
in place of a program it cannot start (not installed, or not for this store), so the tab says why."""

from __future__ import annotations

import html
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def page(title: str, message: str) -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family: sans-serif; margin: 3em'><h1>{html.escape(title)}</h1>"
            f"<p id='mlaas-notice'>{html.escape(message)}</p></body></html>").encode()


def serve(port: int, title: str, message: str) -> None:
    body = page(title, message)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(503)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
