"""Placeholder: the google emulation is being written."""

from __future__ import annotations

from starlette.applications import Starlette

from batchline.sandbox.core import SandboxContext


def build_app(ctx: SandboxContext) -> Starlette:
    return Starlette(routes=[])
