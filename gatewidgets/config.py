"""``GateWidgets``: gatewidgets' settings as a traitlets configurable.

Read from IPython / Jupyter config files (``c.GateWidgets.default_project = "flytesnacks"``)
and changed live with ``%config GateWidgets.default_domain = "production"``; every value is
written into :data:`gatewidgets.settings.settings`, the defaults of the executor and ``GateRemote``.
"""
from __future__ import annotations

from typing import Any

from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Configurable

from gatewidgets.models.execution import DEFAULT_DOMAIN, DEFAULT_PROJECT
from gatewidgets.settings import default_max_workers, settings

__all__ = ["GateWidgets"]

_FIELDS = ("store", "default_project", "default_domain", "max_workers", "poll_interval", "notify", "webhook_url",
           "max_upload_bytes")


class GateWidgets(Configurable):
    """Defaults of gatewidgets for this process (kernel, notebook server)."""

    store = Unicode(None, allow_none=True, help=(
        "Path of the SQLite store. None: $GATEWIDGETS_STORE, else gates.db in Jupyter's data directory. "
        "Executions launched before a change stay in their store.")).tag(config=True)
    default_project = Unicode(DEFAULT_PROJECT, help="Project used when a call names none.").tag(config=True)
    default_domain = Unicode(DEFAULT_DOMAIN, help="Domain used when a call names none.").tag(config=True)
    max_workers = Int(default_max_workers(), help=(
        "Worker threads of an executor created after this is set (default min(32, cpu_count + 4)).")).tag(config=True)
    poll_interval = Float(0.02, help=(
        "Seconds between checks of the store for other processes' writes (stores opened afterwards).")).tag(config=True)
    notify = Bool(True, help="Announce a gate that starts waiting (where a face supports it).").tag(config=True)
    webhook_url = Unicode(None, allow_none=True, help=(
        "POST a JSON message to this URL when a gate starts waiting.")).tag(config=True)

    max_upload_bytes = Int(100 * 1024 * 1024, help=(
        "Largest file accepted by an upload (the widget's upload, the HTTP API), in bytes.")).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.apply()

    @validate("max_workers")
    def _check_workers(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"GateWidgets.max_workers must be at least 1, got {proposal['value']}.")
        return int(proposal["value"])

    @validate("max_upload_bytes")
    def _check_upload(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"GateWidgets.max_upload_bytes must be at least 1, got {proposal['value']}.")
        return int(proposal["value"])

    @validate("poll_interval")
    def _check_poll(self, proposal: Any) -> float:
        if not 0 < proposal["value"] <= 60:
            raise TraitError(f"GateWidgets.poll_interval must be in (0, 60] seconds, got {proposal['value']}.")
        return float(proposal["value"])

    @validate("default_project", "default_domain")
    def _check_name(self, proposal: Any) -> str:
        if not proposal["value"].strip():
            raise TraitError(f"GateWidgets.{proposal['trait'].name} must not be empty.")
        return str(proposal["value"]).strip()

    @observe(*_FIELDS)
    def _changed(self, change: Any) -> None:
        optional = change["name"] in ("store", "webhook_url")  # "" means unset
        setattr(settings, change["name"], (change["new"] or None) if optional else change["new"])

    def apply(self) -> None:
        """Write every value into :data:`gatewidgets.settings.settings`."""
        for name in _FIELDS:
            self._changed({"name": name, "new": getattr(self, name)})
