"""The package's face: what ``import gatewidgets`` gives, costs and registers."""
from __future__ import annotations

import subprocess
import sys

import gatewidgets


def test_public_names_exist() -> None:
    for name in gatewidgets.__all__:
        assert hasattr(gatewidgets, name), name
    assert gatewidgets.GateRemote is gatewidgets.remote.FlyteRemote


def test_plain_import_pulls_in_no_notebook_machinery() -> None:
    code = ("import sys, gatewidgets; heavy = [m for m in ('IPython', 'ipywidgets', 'jsonschema', 'flytekit', "
            "'jupyter_server') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_executions_display_as_widgets_in_ipython_without_load_ext() -> None:
    code = """
from IPython.testing.globalipapp import get_ipython
ip = get_ipython()
ip.run_cell('''
import gatewidgets as g
@g.task
def t(x: int) -> int:
    return x
@g.workflow
def w(a: int) -> int:
    return t(x=a)
ex = w.launch(a=1, execution_name="shown")
ex.wait(10)
''')
data, _ = ip.display_formatter.format(ip.user_ns["ex"])
print("|".join(sorted(data)))
print(data["text/plain"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    kinds, text = out.stdout.strip().splitlines()[-2:]
    assert kinds == "application/vnd.jupyter.widget-view+json|text/plain"
    assert text == "<Execution w shown SUCCEEDED>"


def test_settings_from_the_package_is_the_settings_object() -> None:
    """``from gatewidgets import settings`` gives the settings, not their module: setting one takes effect."""
    from gatewidgets import settings
    from gatewidgets.config import current

    before = settings.notify
    try:
        settings.notify = not before
        assert current().notify is (not before)
    finally:
        del settings.notify
    assert settings.notify is before
