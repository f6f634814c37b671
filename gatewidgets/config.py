"""``GateWidgets``: gatewidgets' settings, defined once, as a traitlets configurable.

Every process reads the same values, lowest precedence first:

1. the defaults below;
2. ``gatewidgets_config.json`` / ``gatewidgets_config.py`` in each of Jupyter's config dirs
   (``jupyter --paths``, ``jupyter_core.paths.jupyter_config_path()``: system, then env, then
   ``~/.jupyter``), e.g. ``c.GateWidgets.default_project = "flytesnacks"``;
3. the host application's own config: ``c.GateWidgets`` in ``ipython_config.py`` for a kernel
   (with ``%load_ext gatewidgets``), in ``jupyter_server_config.py`` for the server extension;
4. changes at run time: ``%config GateWidgets.default_domain = "production"`` in a kernel.

``$GATEWIDGETS_STORE`` names the store when ``store`` is not set, ``$GATEWIDGETS_ANSWERS`` the answers file
when ``answers`` is not set. The kernel, the command line
(``gatewidgets config`` prints the effective values and their sources) and the server extension
all read them through :data:`gatewidgets.settings.settings`, i.e. :func:`current`.

Adding a setting is one trait below with ``.tag(config=True)`` (and, if it needs one, a
``@validate``); ``allow_none`` string traits treat ``""`` as unset.
"""
from __future__ import annotations

import functools
import os
import sys
import urllib.parse
from typing import Any

from traitlets import All, Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, observe, validate
from traitlets.config import Config, Configurable
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

from gatewidgets.errors import InvalidNameError
from gatewidgets.models.execution import DEFAULT_DOMAIN, DEFAULT_PROJECT, check_name
from gatewidgets.models.policy import Policy

__all__ = ["GateWidgets", "current", "config_files", "default_max_workers", "check_public_url", "CONFIG_FILE_NAME",
           "STORE_ENV", "ANSWERS_ENV"]

CONFIG_FILE_NAME = "gatewidgets_config"
STORE_ENV = "GATEWIDGETS_STORE"
ANSWERS_ENV = "GATEWIDGETS_ANSWERS"
_ENV = {"store": STORE_ENV, "answers": ANSWERS_ENV}  # settings an environment variable gives when unset
DEFAULT = "default"
RUNTIME = "set at run time (%config or code)"


def check_public_url(value: str) -> str:
    """``value`` if it can start links to a Jupyter server: an http(s) URL with a host, or a path from the host's
    root (``/user/alice/``), without query or fragment; else ``ValueError`` saying why."""
    parts = urllib.parse.urlsplit(value)
    absolute = parts.scheme in ("http", "https") and bool(parts.netloc)
    path_only = not parts.scheme and not parts.netloc and parts.path.startswith("/")
    if not (absolute or path_only) or parts.query or parts.fragment:
        raise ValueError(f"a public URL must be an http(s) URL such as https://hub.example.org/user/alice/ or a path "
                         f"such as /user/alice/, without query or fragment; got {value!r}")
    return value


def default_max_workers() -> int:
    """``min(32, cpu_count + 4)``, like ``concurrent.futures.ThreadPoolExecutor``."""
    return min(32, (os.cpu_count() or 1) + 4)


class GateWidgets(Configurable):
    """Defaults of gatewidgets for this process (kernel, command line, notebook server).

    The instance created last is the one in force (:func:`current`).
    """

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
    webhook_format = Enum(["gatewidgets", "slack"], "gatewidgets", help=(
        "The body webhook_url receives: gatewidgets' JSON (the signal, its answers, the HTTP paths, inbox_url), "
        "or 'slack', a Slack incoming-webhook message (Block Kit) with a Review button linking to the decision's "
        "inbox page when public_url is set.")).tag(config=True)
    max_value_bytes = Int(1 << 20, help=(
        "Largest signal value accepted (its JSON form, in bytes; default 1 MiB). Larger values raise "
        "SignalTypeError on every face; send big data as a file (GateFile).")).tag(config=True)
    max_upload_bytes = Int(100 * 2**20, help=(
        "Largest file (bytes) a signal value may bring into the store, from any face.")).tag(config=True)
    http_allowed_file_dirs = List(Unicode(), help=(
        "Folders whose files HTTP callers of the server extension may name by server-side path (real paths, "
        "symlinks resolved, must be inside one). Empty (default): HTTP callers send file bytes only.")
    ).tag(config=True)
    http_upload_ttl = Float(3600.0, help=(
        "Seconds an upload streamed to the server extension (PUT /gatewidgets/api/files/<name>) may wait "
        "before a signal value uses it; each upload id is used once. The store holds its file meanwhile "
        "(files clean keeps it, whatever its age).")).tag(config=True)
    busy_timeout = Float(30.0, help=(
        "Seconds a store call waits for another process's lock before failing (stores opened afterwards; "
        "the server extension waits http_busy_timeout instead).")).tag(config=True)
    durability = Enum(["process", "machine"], "process", help=(
        "What a finished node and a decision survive (stores opened afterwards). 'process': a kill of the "
        "process (commits are not synced to disk; completions go to a memory-mapped journal). 'machine': "
        "also an OS crash or power loss, as far as the disk honours fsync (every commit, and every "
        "completion before a successor starts, is synced: slower). On PostgreSQL: 'process' commits without "
        "waiting for the server's disk (synchronous_commit off), 'machine' waits.")).tag(config=True)
    lease = Float(30.0, help=(
        "PostgreSQL stores: seconds a process's lease on the executions it runs lasts unless renewed (it renews "
        "every third of it); once it expired, a process on another machine may recover the execution (stores "
        "opened afterwards).")).tag(config=True)
    answers = Unicode(None, allow_none=True, help=(
        "An answers file (TOML): gates reached in this process are answered from it, and a gate it does not "
        "answer fails its execution at once (unless the file says unanswered = \"wait\"). None: "
        "$GATEWIDGETS_ANSWERS, else gates wait for people. For notebooks run as tests or jobs (nbval, "
        "papermill); see gatewidgets.answers.")).tag(config=True)
    public_url = Unicode(None, allow_none=True, help=(
        "The URL people open this Jupyter server (or the hub service serving gatewidgets) at, e.g. "
        "https://hub.example.org/user/alice/: links to the approvers' inbox (<public_url>gatewidgets/inbox/...) start "
        "with it. None: a kernel of a JupyterHub user's server links under $JUPYTERHUB_SERVICE_PREFIX; elsewhere "
        "there are no links.")).tag(config=True)
    inbox_stream_seconds = Float(300.0, help=(
        "Seconds an approvers' inbox event stream (/gatewidgets/inbox/api/events) stays open before the server ends "
        "it; the page reconnects by itself and reads what changed meanwhile.")).tag(config=True)
    http_busy_timeout = Float(2.0, help=(
        "Seconds the Jupyter server extension's store calls wait for another process's lock, retries "
        "included, before the request answers 503 (Jupyter itself keeps answering).")).tag(config=True)
    groups = Dict(help=(
        "Who is in each group that policies name as @group: {\"finance\": [\"bob\", \"carol\"]} (names without "
        "the @). Kernels, the command line and the server read the same setting; on JupyterHub the hub's "
        "groups count too.")).tag(config=True)
    postgres_role_is_user = Bool(None, allow_none=True, help=(
        "PostgreSQL stores: whether each person logs in with their own database role, so the role is who decides "
        "(recorded by the database as the identity, source \"database\") rather than a name the client gives "
        "(one shared service role). Written into the database by a store opened as the owner of its tables; "
        "None: as the database says.")).tag(config=True)
    policies = Dict(help=(
        "Default policies of gates, by scope: {\"*\": {...}, \"<project>\": {...}, \"<project>/<domain>\": "
        "{\"self_approval\": false, \"assignees\": [\"@finance\"]}}. Applied at launch under the fields a "
        "gate gives itself (assignees, quorum, self_approval, verified, remind_every, escalate_after, "
        "escalate_to).")).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        files, self.sources = _file_config()
        parent = kwargs.get("parent")
        own = kwargs.pop("config", None) or (parent.config if parent is not None else Config())
        merged = Config(files)
        merged.merge(own)
        super().__init__(config=merged, **kwargs)
        host = f"the config of {type(parent).__name__}" if parent is not None else "the config passed in"
        self.sources.update({name: host for name in own.get("GateWidgets", {})})
        self._ready = True
        _State.current = self

    @classmethod
    def names(cls) -> list[str]:
        """The names of the settings, sorted."""
        return list(_names(cls))

    def value(self, name: str) -> Any:
        """The effective value of setting ``name`` (``""`` is ``None`` for settings that may be unset)."""
        value = getattr(self, name)
        return (value or None) if self.traits()[name].allow_none else value

    def source(self, name: str) -> str:
        """Where the value of ``name`` comes from: ``default``, a file path, a host config, an env var, run time."""
        env = _ENV.get(name)
        if env is not None and self.value(name) is None and os.environ.get(env):
            return f"${env}"
        return self.sources.get(name, DEFAULT)

    @validate("max_workers", "max_upload_bytes", "max_value_bytes")
    def _check_at_least_one(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"GateWidgets.{proposal['trait'].name} must be at least 1, got {proposal['value']}.")
        return int(proposal["value"])

    @validate("busy_timeout", "http_busy_timeout", "lease")
    def _check_busy(self, proposal: Any) -> float:
        if not 0 < proposal["value"] <= 3600:
            raise TraitError(f"GateWidgets.{proposal['trait'].name} must be in (0, 3600] seconds, "
                             f"got {proposal['value']}.")
        return float(proposal["value"])

    @validate("http_upload_ttl", "inbox_stream_seconds")
    def _check_positive_seconds(self, proposal: Any) -> float:
        if not proposal["value"] > 0:
            raise TraitError(f"GateWidgets.{proposal['trait'].name} must be more than 0 seconds, "
                             f"got {proposal['value']}.")
        return float(proposal["value"])

    @validate("public_url")
    def _check_public_url(self, proposal: Any) -> str | None:
        value = (proposal["value"] or "").strip()
        if not value:
            return None
        try:
            return check_public_url(value)
        except ValueError as exc:
            raise TraitError(f"GateWidgets.public_url: {exc}.") from None

    @validate("poll_interval")
    def _check_poll(self, proposal: Any) -> float:
        if not 0 < proposal["value"] <= 60:
            raise TraitError(f"GateWidgets.poll_interval must be in (0, 60] seconds, got {proposal['value']}.")
        return float(proposal["value"])

    @validate("default_project", "default_domain")
    def _check_name(self, proposal: Any) -> str:
        try:
            return check_name(str(proposal["value"]).strip(), f"GateWidgets.{proposal['trait'].name}")
        except InvalidNameError as exc:
            raise TraitError(str(exc)) from None

    @validate("groups")
    def _check_groups(self, proposal: Any) -> dict[str, list[str]]:
        groups = proposal["value"]
        for name, members in groups.items():
            if not isinstance(name, str) or not name or name.startswith("@") or isinstance(members, str) or \
                    not all(isinstance(m, str) and m for m in members):
                raise TraitError(f"GateWidgets.groups maps a group name (without @) to a list of user names; "
                                 f"got {name!r}: {members!r}.")
        return {name: list(members) for name, members in groups.items()}

    @validate("policies")
    def _check_policies(self, proposal: Any) -> dict[str, Any]:
        for scope, fields in proposal["value"].items():
            if not isinstance(fields, dict):
                raise TraitError(f"GateWidgets.policies[{scope!r}] must be a dict of policy fields, got {fields!r}.")
            try:
                Policy.given(f"GateWidgets.policies[{scope!r}]", **fields)
            except (ValueError, TypeError) as exc:
                raise TraitError(str(exc)) from None
        return dict(proposal["value"])

    @observe(All)
    def _changed(self, change: Any) -> None:
        if getattr(self, "_ready", False) and change["name"] in self.names():
            self.sources[change["name"]] = RUNTIME


class _State:
    current: GateWidgets | None = None


@functools.cache
def _names(cls: type[GateWidgets]) -> tuple[str, ...]:
    """The config traits of ``cls``, fixed once the class is made: traitlets walks the class at every ask, and
    every launch reads settings."""
    return tuple(cls.class_own_traits(config=True))


def current() -> GateWidgets:
    """The settings in force: the ``GateWidgets`` created last, else one made now (inside IPython
    with the shell as parent and registered for ``%config``; elsewhere from the config files)."""
    if _State.current is None:
        ipython = sys.modules.get("IPython")  # never import IPython into plain scripts
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is not None:
            shell.configurables.append(GateWidgets(parent=shell))
        else:
            GateWidgets()
    assert _State.current is not None
    return _State.current


def config_files() -> list[str]:
    """The ``gatewidgets_config`` files that exist, lowest precedence first."""
    from jupyter_core.paths import jupyter_config_path

    return [os.path.join(folder, CONFIG_FILE_NAME + ext) for folder in reversed(jupyter_config_path())
            for ext in (".json", ".py") if os.path.isfile(os.path.join(folder, CONFIG_FILE_NAME + ext))]


def _file_config() -> tuple[Config, dict[str, str]]:
    """The merged ``c.GateWidgets`` of :func:`config_files`, and which file set each value."""
    merged, sources = Config(), {}
    for path in config_files():
        loader_class = JSONFileConfigLoader if path.endswith(".json") else PyFileConfigLoader
        try:
            config = loader_class(os.path.basename(path), path=os.path.dirname(path)).load_config()
        except ConfigFileNotFound:  # removed meanwhile
            continue
        merged.merge(config)
        sources.update({name: path for name in config.get("GateWidgets", {})})
    return merged, sources
