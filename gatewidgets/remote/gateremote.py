"""``GateRemote``: the one way to list and set signals, FlyteRemote-compatible.

Widgets, magics, the command line and the HTTP handlers all call it; it validates
every value against the signal's stored type before anything is written, and
records who set it and through which face. This room makes one (the store it talks to, who it acts for); its
verbs are in ``reading.py`` and ``deciding.py``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatewidgets.models.policy import Identity
from gatewidgets.models.signal import Via
from gatewidgets.remote.config import RemoteConfig
from gatewidgets.remote.deciding import DecidingVerbs
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.base import RemoteStore
from gatewidgets.store.jupyter import JupyterStore

__all__ = ["GateRemote", "FlyteRemote"]


class GateRemote(DecidingVerbs):
    """List and set signals of executions in a store, from any process.

    ``store`` is any :class:`gatewidgets.store.base.RemoteStore` (a path opens the SQLite store
    there); what it can do is :attr:`capabilities`. ``user`` and ``via`` are recorded with every
    signal set; faces use :meth:`with_face`. Who decides is :attr:`identity`: this process's user
    (``JUPYTERHUB_USER`` in a hub's kernel, else the OS user), a ``user`` the caller names (recorded as
    ``claimed``), or the ``identity`` a face established (the Jupyter server's login). ``file_dirs``: the folders
    whose files a value may name by local path (symlinks resolved); ``None`` (default) any file this process can
    read, ``()`` none (uploaded bytes only, as over HTTP).
    """

    def __init__(self, config: RemoteConfig | None = None, default_project: str | None = None,
                 default_domain: str | None = None, *, store: RemoteStore | str | None = None,
                 user: str | None = None, via: Via | str = Via.API,
                 file_dirs: Sequence[str] | None = None, identity: Identity | None = None) -> None:
        config = config or RemoteConfig()
        if config.endpoint is not None and store is None:
            from gatewidgets.store.flyte import FlyteStore  # needs gatewidgets[flyte]; imported only here

            store = FlyteStore.for_endpoint(config.endpoint, insecure=config.insecure,
                                            default_project=default_project, default_domain=default_domain)
        if store is None or isinstance(store, str):
            store = open_store(store or config.store)
        self.store = store
        self.default_project = default_project or settings.default_project
        self.default_domain = default_domain or settings.default_domain
        self.identity = identity or _identity(user)
        self.user = self.identity.user
        self.via = Via(via)
        self.file_dirs = None if file_dirs is None else tuple(file_dirs)

    @classmethod
    def for_sandbox(cls, default_project: str | None = None, default_domain: str | None = None,
                    **kwargs: Any) -> GateRemote:
        """The remote of this machine's default store."""
        return cls(RemoteConfig.for_sandbox(), default_project, default_domain, **kwargs)

    @classmethod
    def for_endpoint(cls, endpoint: str, insecure: bool = False, default_project: str | None = None,
                     default_domain: str | None = None, **kwargs: Any) -> GateRemote:
        """The remote of a Flyte admin at ``endpoint`` (needs ``gatewidgets[flyte]``).

        ``flyte_poll_interval`` (seconds, default 2), ``data_upload_location`` (where files are
        uploaded) and ``page_size`` go to the ``FlyteStore``; ``user`` and ``via`` to the remote.
        """
        from gatewidgets.store.flyte import FlyteStore

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "data_upload_location", "page_size",
                                                   "max_executions", "files_dir") if k in kwargs}
        store = FlyteStore.for_endpoint(endpoint, insecure=insecure, default_project=default_project,
                                        default_domain=default_domain, **store_kwargs)
        return cls(RemoteConfig.for_endpoint(endpoint, insecure), default_project, default_domain, store=store,
                   **kwargs)

    @classmethod
    def from_flyte(cls, flyte_remote: Any, **kwargs: Any) -> GateRemote:
        """A remote on the Flyte admin of a flytekit ``FlyteRemote`` (its defaults, client and uploads)."""
        from gatewidgets.store.flyte import FlyteStore

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "page_size", "max_executions",
                                                   "files_dir") if k in kwargs}
        project = kwargs.pop("default_project", None) or flyte_remote.default_project
        domain = kwargs.pop("default_domain", None) or flyte_remote.default_domain
        return cls(None, project, domain, store=FlyteStore(flyte_remote, **store_kwargs), **kwargs)

    @classmethod
    def for_flyte2(cls, endpoint: str | None = None, *, project: str | None = None, domain: str | None = None,
                   insecure: bool = False, **kwargs: Any) -> GateRemote:
        """The remote of the conditions of Flyte 2 runs on a cluster (needs ``gatewidgets[flyte2]``).

        With ``endpoint``, calls ``flyte.init(endpoint=..., project=..., domain=..., insecure=..., **init)``;
        without, uses the ``flyte.init(...)`` already made. Execution names are run names.
        ``flyte_poll_interval`` (seconds, default 2), ``page_size``, ``max_executions`` and ``init``
        go to the ``Flyte2Store``; ``user`` and ``via`` to the remote.
        """
        from gatewidgets.store.flyte2 import Flyte2Store

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "page_size", "max_executions", "init")
                        if k in kwargs}
        store = Flyte2Store.for_endpoint(endpoint, project=project, domain=domain, insecure=insecure, **store_kwargs)
        return cls(None, store.project, store.domain, store=store, **kwargs)

    @classmethod
    def for_jupyter(cls, url: str, token: str | None = None, **kwargs: Any) -> GateRemote:
        """A remote on a Jupyter server's ``/gatewidgets/api`` (a ``JupyterStore``; ``url`` may carry ``?token=``)."""
        store = JupyterStore(url, token, kwargs.pop("timeout", 30.0))
        return cls(None, kwargs.pop("default_project", None), kwargs.pop("default_domain", None), store=store,
                   via=kwargs.pop("via", Via.HTTP), **kwargs)

    def with_face(self, via: Via | str, user: str | None = None, identity: Identity | None = None) -> GateRemote:
        """A copy that records sets as made through ``via`` (widget, magic, cli, http) by ``identity`` (as the face
        established it), or by ``user`` (claimed), else by this remote's identity."""
        clone = object.__new__(GateRemote)
        clone.__dict__.update(self.__dict__)
        clone.via = Via(via)
        clone.identity = identity or (_identity(user) if user else self.identity)
        clone.user = clone.identity.user
        return clone

    def __repr__(self) -> str:
        return f"GateRemote({self.store.path!r}, project={self.default_project!r}, domain={self.default_domain!r})"


FlyteRemote = GateRemote


def _identity(user: str | None) -> Identity:
    """This process's identity, or ``user`` as a claim when it names someone else."""
    own = Identity.of_process()
    return own if not user or user == own.user else Identity(user, "claimed")
