"""``GET /mlaas/api/overview`` and ``/mlaas/api/<section>``: authenticated JSON for the Workbench sidebar."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import tornado.web
from jupyter_server.base.handlers import APIHandler

from ._overview import SECTIONS, Overview

# One thread reads the stores: polls queue behind each other (and share its cache) instead of
# blocking the server's event loop while MLflow is imported or queried.
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlaas-overview")


class _Base(APIHandler):
    def initialize(self, overview: Overview):
        self.overview = overview

    async def _answer(self, fn, *args) -> None:
        body = await asyncio.get_running_loop().run_in_executor(_READER, fn, *args)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body, default=str))


class OverviewHandler(_Base):
    @tornado.web.authenticated
    async def get(self):
        await self._answer(self.overview.build)


class SectionHandler(_Base):
    @tornado.web.authenticated
    async def get(self, name: str):
        await self._answer(self.overview.section, name)


def handlers(base_url: str, overview: Overview) -> list:
    from jupyter_server.utils import url_path_join

    sections = "|".join(SECTIONS)
    return [
        (url_path_join(base_url, "mlaas/api/overview"), OverviewHandler, {"overview": overview}),
        (url_path_join(base_url, f"mlaas/api/({sections})"), SectionHandler, {"overview": overview}),
    ]


def warm(overview: Overview) -> None:
    """Read the overview once in the reader thread (MLflow imported there) so the sidebar's first poll is quick."""
    _READER.submit(overview.build)
