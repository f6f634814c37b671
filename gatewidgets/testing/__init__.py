"""Testing gated workflows and notebooks: answers from a file or from code, and a pytest plugin.

``with answering({"approve-expense": True, "rate": 1.5}) as answers: expense_wf(a=3)`` answers the gates
reached in the block; ``answers.asked`` lists what was asked. The pytest plugin
(:mod:`gatewidgets.testing.pytest_plugin`, registered through the ``pytest11`` entry point) adds
``--gate-answers FILE`` and the ``gate_answers`` fixture. See :mod:`gatewidgets.answers` for the file.
"""
from __future__ import annotations

from gatewidgets.answers import Answer, Answers, Asked, answering

__all__ = ["Answer", "Answers", "Asked", "answering"]
