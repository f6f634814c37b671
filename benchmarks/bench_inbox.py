"""The approvers' inbox with 1,000 pending decisions: time to first paint and to the first page of decisions on
screen in Chromium, on the local network and on an emulated slow one, and what the page sends.

1,000 approvals (100 executions of 10 gates, each approving a 20-row table shown as evidence) wait in a fresh store;
a real ``jupyter server`` serves the inbox; Chromium (Playwright, Debian's ``chromium``) opens it ``--reps`` times.
Figures: ``first-contentful-paint`` (the page's shell) and ``gw-items-shown`` (a mark the page sets once the first
page of decisions is rendered), both from the navigation's start (Performance API); the bytes of the first page
of decisions over the wire (gzipped) and unpacked, against what all 1,000 would weigh. ``--screenshot PNG`` also
saves the inbox as a picture (the README's).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import fresh_store, parse_args, percentiles, table, verdict, wait_until, write_results
from jupyter_server.auth.identity import IdentityProvider, User

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SLOW = {"offline": False, "latency": 400, "downloadThroughput": 400 * 1024 // 8, "uploadThroughput": 400 * 1024 // 8}
TARGET_ITEMS_S = 1.0  # the first page of decisions on screen, local network


def make_workflow(gates: int) -> Any:
    from gatewidgets import approve, task, workflow

    @task
    def expenses() -> object:
        rows = {"amount": [round(12.5 * i, 2) for i in range(20)], "payee": [f"payee {i}" for i in range(20)]}
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    @workflow
    def month_end() -> None:
        table_ = expenses()
        for i in range(gates):  # every third needs two people
            approve(table_, f"pay-{i}", timeout=timedelta(days=2), description=f"Pay batch **{i}**?",
                    quorum=2 if i % 3 == 0 else None)

    return month_end


class OneUser(IdentityProvider):
    """The benchmark's one user, by the server's token: a name, as a hub or a login gives (not an anonymous id)."""

    async def get_user_token(self, handler: Any) -> User | None:
        user = await super().get_user_token(handler)
        return User(username="finance-lead", name="finance-lead") if user is not None else None


def start_server(root: Path, store: str) -> tuple[subprocess.Popen[bytes], str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(12)
    here = str(Path(__file__).resolve().parent)
    env = dict(os.environ, GATEWIDGETS_STORE=store, JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               PYTHONPATH=os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                             "--allow-root", "--ServerApp.identity_provider_class=bench_inbox.OneUser"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(up, 60, "the Jupyter server", interval=0.2)
    return proc, url, token


def measure(page: Any, url: str, reps: int) -> dict[str, Any]:
    """Open the inbox ``reps`` times; first paint, first page of decisions on screen, bytes of that page."""
    paints, shown, sizes = [], [], []
    for _ in range(reps):
        page.goto(f"{url}/gatewidgets/inbox")
        page.wait_for_function("() => performance.getEntriesByName('gw-items-shown').length > 0", timeout=120_000)
        timing = page.evaluate("""() => ({
            fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
            shown: performance.getEntriesByName('gw-items-shown')[0].startTime,
            items: performance.getEntriesByType('resource').filter(r => r.name.includes('/inbox/api/items'))
                   .map(r => [r.encodedBodySize, r.decodedBodySize])[0],
            cards: document.querySelectorAll('#gw-list .gw-card').length})""")
        paints.append(timing["fcp"] / 1000)
        shown.append(timing["shown"] / 1000)
        sizes.append(timing["items"])
    return {"first_paint_s": percentiles(paints), "items_shown_s": percentiles(shown), "cards": timing["cards"],
            "page_bytes_wire": sizes[-1][0], "page_bytes": sizes[-1][1]}


def main() -> None:
    shot = argparse.ArgumentParser(add_help=False)
    shot.add_argument("--screenshot", type=Path, default=None, help="also save the inbox as this PNG")
    extra, rest = shot.parse_known_args()
    args = parse_args(__doc__.splitlines()[0], rest)
    executions, gates, reps = (2, 10, 2) if args.smoke else (100, 10, 5)
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("bench_inbox needs Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from gatewidgets import GateRemote

    with fresh_store() as store, tempfile.TemporaryDirectory(prefix="gatewidgets-inbox-") as tmp:
        wf = make_workflow(gates)
        t0 = time.perf_counter()
        launched = [wf.launch() for _ in range(executions)]
        total = executions * gates
        remote = GateRemote.for_sandbox()
        wait_until(lambda: remote.count_signals(filters="eq(state,PENDING)") == total, 300, f"{total} pending")
        setup = time.perf_counter() - t0
        proc, url, token = start_server(Path(tmp), store)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1000, "height": 900})
                page.goto(f"{url}/gatewidgets/inbox?token={token}")  # logs in: the cookie does the rest
                page.wait_for_function("() => performance.getEntriesByName('gw-items-shown').length > 0")
                local = measure(page, url, reps)
                if extra.screenshot:
                    page.set_viewport_size({"width": 900, "height": 1100})
                    page.goto(f"{url}/gatewidgets/inbox")
                    page.wait_for_function("() => performance.getEntriesByName('gw-items-shown').length > 0")
                    page.locator("#gw-live", has_text="live").wait_for()
                    page.screenshot(path=str(extra.screenshot))
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", SLOW)
                slow = measure(page, url, max(1, reps // 2))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        for ex in launched:
            ex.abort()
    per_item = local["page_bytes"] / max(local["cards"], 1)
    results = {"pending": total, "setup_s": setup, "local": local, "slow_network": slow | {"conditions": SLOW},
               "all_at_once_bytes_estimate": per_item * total, "target_items_shown_s": TARGET_ITEMS_S,
               "ok": local["items_shown_s"]["p50"] < TARGET_ITEMS_S}
    ms = 1000.0
    print(table([
        [f"local, {total} pending", f"{local['first_paint_s']['p50'] * ms:.0f} ms",
         f"{local['items_shown_s']['p50'] * ms:.0f} ms ({local['cards']} cards)",
         f"{local['page_bytes_wire']:,} / {local['page_bytes']:,}", verdict(results["ok"])],
        ["slow network (400 ms, 400 kbit/s)", f"{slow['first_paint_s']['p50'] * ms:.0f} ms",
         f"{slow['items_shown_s']['p50'] * ms:.0f} ms", f"{slow['page_bytes_wire']:,} / {slow['page_bytes']:,}", ""],
    ], ["", "first paint p50", "first page of decisions on screen p50", "page bytes (wire / JSON)",
        f"< {TARGET_ITEMS_S * ms:.0f} ms"]))
    print(f"all {total} decisions at once would be ~{per_item * total / 1e6:.1f} MB of JSON; the page asks for "
          f"{local['cards']} at a time.")
    write_results("inbox", results, args)


if __name__ == "__main__":
    main()
