"""Real-browser harness: JupyterLab in a subprocess, driven by Debian's Chromium
through Playwright's sync API.

Fixtures (see ``tests/browser/test_harness.py`` for a complete example):

``chromium_path`` (session) -> str
    Path of the ``chromium`` executable; skips the test when it is not installed.
``lab_server`` (package: all of tests/browser/) -> LabServer
    A JupyterLab server on 127.0.0.1, free port, random token. Its root dir is a temp
    copy of ``tests/browser/notebooks/`` (at the top) plus the demo ``notebooks/``
    folder (as ``notebooks/``). It and its kernels use ``lab_server.store`` as
    ``GATEWIDGETS_STORE`` (one store for all browser tests: use unique execution
    names per test). ``lab_server.url(path)``, ``.notebook_url(name)``,
    ``.api(path, method=, body=) -> (status, json)`` (token auth, for the server
    extension), ``.log_tail()``. Private Jupyter config/data/runtime/settings dirs; the
    installed ``gatewidgets.server`` extension config (sys.prefix) still applies, and the
    labextension is the repository's prebuilt one (``gatewidgets/labextension``, ahead of
    any installed copy).
``new_lab_server`` (function) -> callable ``new_lab_server(base_dir, *, base_url="/", extra_env=None)``
    A context manager starting another server like ``lab_server`` (own root copy, own
    store ``base_dir/store/gates.db``) in the empty directory ``base_dir``, under
    ``base_url`` (``"/user/alice/"``: a JupyterHub user's server), with ``extra_env`` added
    to its environment. A test module that needs a fresh store per test overrides
    ``lab_server`` with it; ``open_notebook`` then uses that server.
``browser`` (package) -> playwright.sync_api.Browser (Playwright is stopped after
    the last browser test: its sync API breaks asyncio.run() while it is running)
``page`` (function) -> playwright.sync_api.Page
    A fresh browser context and page per test (default timeout 30 s). A screenshot is
    saved into ``test-artifacts/`` when the test fails.
``open_notebook`` (function) -> callable ``open_notebook(name, *, app="lab", timeout=60) -> Page``
    Opens ``/lab/tree/NAME?token=T`` (``app="notebook"``: Notebook 7's ``/notebooks/NAME``)
    in ``page``, accepts the "Select Kernel" dialog if shown and waits until the
    notebook's kernel is idle.

Helpers, as function-returning fixtures (request them by name, then call them):

``run_all_cells`` -> ``run_all_cells(page, *, timeout=30)``
    Run > Run All Cells, clicked in the menu bar.
``wait_for_output`` -> ``wait_for_output(page, text, *, timeout=60) -> Locator``
    Waits until a cell *output* contains ``text`` (cell sources are not searched).
``dismiss_dialogs`` -> ``dismiss_dialogs(page, *, timeout=2) -> bool``
    Accepts a "Select Kernel"-style dialog (``.jp-Dialog .jp-mod-accept``) if shown.

On failure, ``test-artifacts/<test id>.png`` (full page) and
``test-artifacts/jupyterlab-server.log`` are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BROWSER_NOTEBOOKS = HERE / "notebooks"
DEMO_NOTEBOOKS = REPO / "notebooks"
LABEXTENSION = REPO / "gatewidgets" / "labextension"  # the committed build of labextension/
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SERVER_START_TIMEOUT = 90.0  # s, JupyterLab start on a loaded 2-core machine
DEFAULT_TIMEOUT_MS = 30_000  # Playwright default for every action / wait


# --------------------------------------------------------------------------- server


@dataclass
class LabServer:
    """A running JupyterLab server started by the ``lab_server`` fixture."""

    port: int
    token: str
    root_dir: Path
    store: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    prefix: str = "/"  # the server's base_url

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` and the server's base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}{self.prefix}".rstrip("/")

    def url(self, path: str = "/lab") -> str:
        """Absolute URL of ``path`` with the token appended."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, name: str, app: str = "lab") -> str:
        """The page of notebook ``name`` in JupyterLab (``app="lab"``) or Notebook 7 (``"notebook"``)."""
        if app == "notebook":
            return self.url(f"/notebooks/{name}")
        # ?reset: start from an empty workspace, so notebooks of earlier tests do not reopen beside it
        return self.url(f"/lab/tree/{name}") + "&reset"

    def kernel_idle(self, name: str) -> bool:
        """Whether a session of notebook ``name`` has a kernel that is idle (REST API)."""
        status, sessions = self.api("/api/sessions")
        return status == 200 and any(
            s.get("path") == name and s.get("kernel", {}).get("execution_state") == "idle"
            for s in sessions)  # type: ignore[union-attr]

    def api(self, path: str, *, method: str = "GET", body: object | None = None,
            timeout: float = 10.0) -> tuple[int, object]:
        """Call the server's REST API (``/api/...``) with the token; returns
        ``(status, parsed_json_or_text)``. For testing server extensions."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}/{path.lstrip('/')}", data=data, method=method,
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no server log>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_lab_settings(settings_dir: Path) -> None:
    """User settings for the test JupyterLab: no news / update popups covering the
    page, and no notebook windowing (every cell and output stays in the DOM)."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"checkForUpdates": False, "fetchNews": "false"},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none"},
    }
    for rel, value in settings.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)  # jupyter server shuts its kernels down on SIGTERM
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    return path


@contextlib.contextmanager
def _start_lab_server(base: Path, *, base_url: str = "/", extra_env: dict[str, str] | None = None):
    """A JupyterLab server under ``base_url`` whose root dir, store, settings and Jupyter dirs
    all live in the new, empty directory ``base``, with ``extra_env`` added to its environment (and its
    kernels'); stopped (terminate, then kill) on exit."""
    root = base / "root"
    shutil.copytree(BROWSER_NOTEBOOKS, root,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if DEMO_NOTEBOOKS.is_dir():
        shutil.copytree(DEMO_NOTEBOOKS, root / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    store = base / "store" / "gates.db"
    store.parent.mkdir()
    settings_dir = base / "lab-settings"
    _write_lab_settings(settings_dir)
    for d in ("config", "data", "runtime", "workspaces", "ipython"):
        (base / d).mkdir()
    # the extensions path holds one folder per extension, named as its package: this checkout's build
    labextensions = base / "labextensions"
    shutil.copytree(LABEXTENSION, labextensions / "gatewidgets")

    env = dict(os.environ)
    env.update(
        GATEWIDGETS_STORE=str(store),
        JUPYTER_CONFIG_DIR=str(base / "config"),    # user-level config ignored;
        JUPYTER_DATA_DIR=str(base / "data"),        # sys.prefix/etc/jupyter still read
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTER_PLATFORM_DIRS="0",
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    env.update(extra_env or {})

    port, token = _free_port(), secrets.token_hex(16)
    log_path = base / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.extra_labextensions_path={labextensions}",
        f"--JupyterNotebookApp.extra_labextensions_path={labextensions}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--JupyterNotebookApp.user_settings_dir={settings_dir}",  # Notebook 7 (/notebooks/...)
        f"--JupyterNotebookApp.workspaces_dir={base / 'workspaces'}",
        "--allow-root",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = LabServer(port=port, token=token, root_dir=root, store=store,
                       log_path=log_path, process=proc, prefix=base_url)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n"
                                   f"{server.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer on port {port} within "
                                   f"{SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}")
            try:
                status, _ = server.api("/api/status", timeout=2.0)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        yield server
    finally:
        _stop(proc)
        if _failed[0]:  # some browser test failed: keep the server log too
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(log_path, ARTIFACTS / "jupyterlab-server.log")


@pytest.fixture(scope="package")
def lab_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab on 127.0.0.1:<free port>; stopped (terminate, then kill) at the end."""
    with _start_lab_server(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture
def new_lab_server(chromium_path: str):
    """``new_lab_server(base, *, base_url="/", extra_env=None) -> context manager of LabServer``: a private
    JupyterLab with its own store, for a test that needs one (override ``lab_server`` with it)."""
    return _start_lab_server


# --------------------------------------------------------------------------- browser


# Package scope, not session: Playwright's sync API keeps an asyncio loop "running"
# in the main thread while it is started, so any later test calling asyncio.run()
# would fail. Package scope stops it once the last test of tests/browser/ is done.
@pytest.fixture(scope="package")
def playwright_instance(chromium_path: str):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="package")
def browser(playwright_instance, chromium_path: str):
    b = playwright_instance.chromium.launch(
        executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def _dismiss_dialogs(page, *, timeout: float = 2.0) -> bool:
    """Accept a modal dialog (e.g. "Select Kernel") if one shows up within ``timeout``
    seconds. Returns whether one was accepted."""
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        accept.first.wait_for(state="visible", timeout=timeout * 1000)
    except Exception:  # playwright TimeoutError: no dialog
        return False
    accept.first.click()
    page.locator(".jp-Dialog").first.wait_for(state="detached", timeout=10_000)
    return True


def _wait_kernel_idle(page, timeout: float) -> None:
    # The toolbar's execution indicator says "idle" before any kernel is attached
    # ("No Kernel | Initializing"), so wait for the status bar's "<kernel> | Idle".
    page.locator(".jp-StatusBar-TextItem").filter(
        has_text=re.compile(r"^(?!No Kernel).+\|\s*Idle\s*$")).first.wait_for(
        state="attached", timeout=timeout * 1000)


def _wait_kernel_idle_notebook7(page, server: LabServer, name: str, timeout: float) -> None:
    # Notebook 7 has no status bar: the server's session says idle and the toolbar's indicator agrees.
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
        state="attached", timeout=timeout * 1000)
    if not server.kernel_idle(name):
        raise TimeoutError(f"no idle kernel for {name} yet")


@pytest.fixture
def open_notebook(page, lab_server: LabServer):
    """``open_notebook(name, *, app="lab", timeout=60)``: open a notebook of the server's root
    dir in ``page`` -- in JupyterLab, or in Notebook 7 with ``app="notebook"`` -- accept
    "Select Kernel" if asked, wait for an idle kernel."""

    def _open(name: str, *, app: str = "lab", timeout: float = 60.0):
        page.goto(lab_server.notebook_url(name, app), timeout=timeout * 1000)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first.wait_for(state="visible",
                                                                            timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while True:
            _dismiss_dialogs(page, timeout=1.0)
            try:
                if app == "notebook":
                    _wait_kernel_idle_notebook7(page, lab_server, name, timeout=2.0)
                else:
                    _wait_kernel_idle(page, timeout=2.0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"kernel of {name} not idle after {timeout:.0f} s\n"
                        f"server log:\n{lab_server.log_tail()}") from None
        return page

    return _open


_WATCH_PROMPTS_JS = """() => {
  window.__gwRunSeen = false;
  const obs = new MutationObserver(records => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest && el.closest('.jp-InputPrompt')) {
        window.__gwRunSeen = true; obs.disconnect(); return;
      }
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _run_all_cells(page, *, timeout: float = 30.0) -> None:
    """Run > Run All Cells, clicked in the menu bar like a user would.

    Returns once some cell has started (its prompt changed to ``[*]``); the click is
    repeated if the frontend ignored it (e.g. a kernel that was still connecting)."""
    deadline = time.monotonic() + timeout
    while True:
        page.evaluate(_WATCH_PROMPTS_JS)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click(
            timeout=timeout * 1000)
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).first.click(
            timeout=timeout * 1000)
        try:
            page.wait_for_function("window.__gwRunSeen === true", timeout=10_000)
            return
        except Exception:  # playwright TimeoutError: nothing started
            page.keyboard.press("Escape")  # close the menu if it is still open
            if time.monotonic() > deadline:
                raise TimeoutError(f"Run All Cells started no cell within {timeout:.0f} s") \
                    from None


def _wait_for_output(page, text: str, *, timeout: float = 60.0):
    """Wait until some cell output (not a cell's source) contains ``text``."""
    loc = page.locator(".jp-OutputArea-output", has_text=text).first
    loc.wait_for(state="visible", timeout=timeout * 1000)
    return loc


@pytest.fixture
def run_all_cells():
    return _run_all_cells


@pytest.fixture
def wait_for_output():
    return _wait_for_output


@pytest.fixture
def dismiss_dialogs():
    return _dismiss_dialogs


# ------------------------------------------------------------------ failure artifacts

_failed = [False]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed:
        return
    _failed[0] = True
    ARTIFACTS.mkdir(exist_ok=True)
    pg = getattr(item, "funcargs", {}).get("page")
    if pg is None:
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-150:]
    path = ARTIFACTS / f"{name}.png"
    try:
        pg.screenshot(path=str(path), full_page=True, timeout=15_000)
        report.sections.append(("browser", f"screenshot saved to {path}"))
    except Exception as exc:  # never hide the real failure
        report.sections.append(("browser", f"screenshot failed: {exc!r}"))
