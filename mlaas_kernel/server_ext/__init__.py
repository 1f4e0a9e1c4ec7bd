"""The workbench's Jupyter Server extension: the REST API the Workbench sidebar reads, and the
launchers (``_proxies``) jupyter-server-proxy finds through entry points.

``GET {base_url}mlaas/api/overview`` answers datasets (with labelling progress), recent MLflow
runs, registered models and pipeline runs of the workspace; ``/mlaas/api/datasets`` (``runs``,
``models``, ``pipelines``) one section. ``mlaas lab`` enables it (``jupyter_server_config.d``).
"""

from __future__ import annotations

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "mlaas_kernel.server_ext"}]


def _load_jupyter_server_extension(serverapp) -> None:
    """Add the handlers to the server and read the overview once in the background."""
    from ._handlers import handlers, warm
    from ._overview import Overview

    overview = Overview(serverapp.root_dir)
    web_app = serverapp.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"], overview))
    warm(overview)
    serverapp.log.info("mlaas workbench: %smlaas/api/overview for the workspace of %s", web_app.settings["base_url"], serverapp.root_dir)
