"""Process-wide defaults read by the executor and ``GateRemote``.

Plain data at the bottom of the stack: the ``GateWidgets`` traitlets configurable
(``gatewidgets.config``) writes into :data:`settings`; nothing here does I/O.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from gatewidgets.models.execution import DEFAULT_DOMAIN, DEFAULT_PROJECT

__all__ = ["Settings", "settings", "default_max_workers"]


def default_max_workers() -> int:
    """``min(32, cpu_count + 4)``, like ``concurrent.futures.ThreadPoolExecutor``."""
    return min(32, (os.cpu_count() or 1) + 4)


@dataclass
class Settings:
    """Defaults used when a call does not say otherwise."""

    store: str | None = None  # None: $GATEWIDGETS_STORE, else Jupyter's data dir
    default_project: str = DEFAULT_PROJECT
    default_domain: str = DEFAULT_DOMAIN
    max_workers: int = default_max_workers()
    poll_interval: float = 0.02  # seconds between checks of the store for other processes' writes
    notify: bool = True  # announce a gate that starts waiting (browser notification where a face supports it)
    webhook_url: str | None = None  # POST a JSON message there when a gate starts waiting
    max_upload_bytes: int = 100 * 1024 * 1024  # files larger than this are refused by upload faces


settings = Settings()
