"""``python -m mlaas_kernel.server_ext._optuna PORT``: optuna-dashboard over the workspace's studies.

The study storage is made first the way ``mlaas tune`` makes it (WAL, under its lock): optuna-dashboard
on a missing SQLite file races its own table creation ("no such table: version_info").
"""

from __future__ import annotations

import sys


def main(port: str) -> int:
    from ..tune import storage, storage_url

    url = storage_url()
    storage(url=url, heartbeat=False)  # the tables, once
    from optuna_dashboard._cli import main as dashboard

    # wsgiref (threaded, one process) rather than gunicorn: it stops at once when Lab stops it
    sys.argv = ["optuna-dashboard", url, "--host", "127.0.0.1", "--port", port, "--server", "wsgiref", "--quiet"]
    return dashboard()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
