"""The package's face: what ``import gatewidgets`` gives, costs and registers."""
from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib

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


ROOT = Path(__file__).resolve().parent.parent


def _pip_installs(shell_text: str) -> list[list[str]]:
    """The arguments after ``pip install`` of every command in ``shell_text`` (options left out)."""
    installs = []
    for line in shell_text.splitlines():
        if not re.search(r"\bpip3?\s+install\b", line):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        words = list(lexer)
        for i in range(len(words) - 1):
            if re.fullmatch(r"(.*/)?pip3?", words[i]) and words[i + 1] == "install":
                args = list(itertools.takewhile(lambda w: w not in {";", "&&", "||", "|", "&"}, words[i + 2:]))
                installs.append([w for w in args if not w.startswith("-")])
    return installs


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    lines = [ln for ln in readme.splitlines() if re.match(r"^pip install -e '\.\[test\]' && python -m pytest( |$)", ln)]
    assert lines, "README.md has no test command"
    return lines[0]


def test_ci_installs_no_python_package_the_readme_command_does_not() -> None:
    """CI passes only if the README's one command installs what the suite needs: ``.ci/run`` adds nothing."""
    readme_installs = {arg for args in _pip_installs(_readme_test_command()) for arg in args}
    assert readme_installs == {".[test]"}
    ci_installs = _pip_installs((ROOT / ".ci" / "run").read_text())
    assert ci_installs, ".ci/run installs nothing: the parse is broken"
    extra = [args for args in ci_installs if args != ["pip"] and not set(args) <= readme_installs]
    assert extra == [], f".ci/run installs Python packages the README's test command does not: {extra}"


def test_pip_installs_parse_every_spelling() -> None:
    """The check above sees the spellings a CI script uses, so it cannot pass by not seeing a line."""
    script = ("python -m pip install --quiet --upgrade pip\n"
              "python -m pip install --quiet -e '.[test]'  # the README's\n"
              "cd x && pip install -e '.[flyte]' -e '.[flyte2]'; uv pip install papermill\n")
    assert _pip_installs(script) == [["pip"], [".[test]"], [".[flyte]", ".[flyte2]"], ["papermill"]]


def test_the_test_extra_brings_what_the_whole_suite_imports() -> None:
    """``.[test]`` includes the optional front doors and the test tools, so no test skips for a missing package."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def closure(extra: str) -> set[str]:
        names: set[str] = set()
        for req in extras[extra]:
            match = re.match(r"gatewidgets\[([^\]]+)\]", req)
            if match:
                for inner in match.group(1).split(","):
                    names |= closure(inner.strip())
            else:
                names.add(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower())
        return names

    assert {"flytekit", "flyte", "hypothesis", "papermill", "pytest", "nbval", "playwright", "jupyterlab"} <= closure(
        "test")


def test_the_wheel_installs_the_committed_labextension_build() -> None:
    """``pip install [-e] .`` copies the prebuilt labextension (hatch shared-data) to where JupyterLab and Notebook 7
    look for extensions, ``share/jupyter/labextensions/<its package name>/``; the build it copies is committed whole:
    the entry its package.json names exists, with the chunks it loads, and it was built from the source's package."""
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "shared-data"]
    source = json.loads((ROOT / "labextension" / "package.json").read_text())
    built_dir = ROOT / "gatewidgets" / "labextension"
    built = json.loads((built_dir / "package.json").read_text())
    target = f"share/jupyter/labextensions/{source['name']}"
    assert shared["gatewidgets/labextension"] == target
    assert shared["labextension/install.json"] == f"{target}/install.json"
    assert json.loads((ROOT / "labextension" / "install.json").read_text())["packageName"] == "gatewidgets"
    assert (ROOT / "labextension" / source["jupyterlab"]["outputDir"]).resolve() == built_dir.resolve()
    assert {k: built[k] for k in ("name", "version", "dependencies")} == {
        k: source[k] for k in ("name", "version", "dependencies")}
    entry = built_dir / built["jupyterlab"]["_build"]["load"]
    assert entry.is_file() and entry.parent == built_dir / "static"
    chunks = [p for p in entry.parent.glob("*.js") if p not in (entry, entry.parent / "style.js")]
    assert chunks and all(p.name.split(".")[1] in entry.read_text() for p in chunks)  # the entry loads each one
    code = "".join(p.read_text() for p in chunks)
    src = (ROOT / "labextension" / "src" / "index.js").read_text()
    for name in ("COMMAND", "INBOX_PATH"):  # the build holds the source's command id and path
        value = re.search(rf"const {name} = '([^']+)';", src)
        assert value is not None and f'"{value.group(1)}"' in code, name
    assert '"Gate inbox"' in code
