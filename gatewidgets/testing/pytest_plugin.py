"""The pytest plugin of gatewidgets (entry point ``pytest11``): answers for gated notebooks and workflows.

* ``--gate-answers FILE``: checked at start (a broken file is a usage error), then set as
  ``GATEWIDGETS_ANSWERS`` for this run, so the kernels nbval starts (and workflows run by the tests
  themselves) answer their gates from it; a gate it does not answer fails at once.
* ``gate_answers``: a fixture answering the gates reached during the test from that file, or from
  nothing; add entries with ``gate_answers.update({...})`` / ``.add(...)``, assert on ``.asked``.
  A gate none answers fails its execution at once with ``UnansweredGateError``.

Without the option and the fixture, the plugin does nothing.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from gatewidgets.answers import ANSWERS_ENV, Answers, answering, load
from gatewidgets.errors import AnswersFileError

__all__ = ["gate_answers"]

_OPTION = "gate_answers"
_saved = pytest.StashKey[tuple[bool, str | None]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gatewidgets").addoption(
        "--gate-answers", dest=_OPTION, metavar="FILE", default=None,
        help="answer the gates of notebooks (kernels started by nbval) and workflows from this TOML file; "
             "a gate it does not answer fails at once")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption(_OPTION)
    if not path:
        return
    full = os.path.abspath(path)
    try:
        load(full)
    except AnswersFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_saved] = (ANSWERS_ENV in os.environ, os.environ.get(ANSWERS_ENV))
    os.environ[ANSWERS_ENV] = full  # kernels inherit the environment when they start


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_saved, None)
    if saved is None:
        return
    had, value = saved
    if had and value is not None:
        os.environ[ANSWERS_ENV] = value
    else:
        os.environ.pop(ANSWERS_ENV, None)


@pytest.fixture
def gate_answers(pytestconfig: pytest.Config) -> Iterator[Answers]:
    """Answers for the gates reached during the test: ``--gate-answers`` FILE's entries, or none."""
    path = pytestconfig.getoption(_OPTION)
    with answering(os.path.abspath(path) if path else {}) as answers:
        yield answers
