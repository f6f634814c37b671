"""The JSON form of signals and executions (the CLI's ``--json``, the HTTP API, its client): who may answer
a gate round-trips."""
from __future__ import annotations

import dataclasses

import pytest
from _team_workflow import team_wf
from helpers import eventually

from gatewidgets import GateRemote, SignalState
from gatewidgets.models.policy import Identity
from gatewidgets.wire import execution_from_json, execution_to_json, signal_from_json, signal_to_json


def test_policy_approvals_identity_source_and_evidence_hash_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    ex = team_wf.launch(a=2)
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("ok", ex.name).state is SignalState.PENDING)
    waiting = remote.get_signal("ok", ex.name)
    data = signal_to_json(waiting)
    assert data["policy"] == {"assignees": ["bob", "carol"], "quorum": 2, "self_approval": False}
    assert data["standing"] == "0 of 2 — waiting for bob, carol" and data["approvals"] is None
    assert data["evidence_hash"] == waiting.evidence_hash is not None
    back = signal_from_json(data)
    assert (back.policy, back.approvals, back.evidence_hash) == (waiting.policy, [], waiting.evidence_hash)
    # evidence stored in another form than the one shown (a key of a later version): the hash stays the store's
    odd = dataclasses.replace(waiting, context={**(waiting.context or {}),
                                                "evidence": {**waiting.context["evidence"], "later": 1}})
    assert odd.evidence_hash != waiting.evidence_hash
    assert "later" not in signal_to_json(odd)["evidence"]
    assert signal_from_json(signal_to_json(odd)).evidence_hash == odd.evidence_hash

    seen = waiting.evidence_hash
    GateRemote.for_sandbox(user="bob").approve("ok", ex.name, evidence_hash=seen)
    partial = remote.get_signal("ok", ex.name)
    back = signal_from_json(signal_to_json(partial))
    assert back.approvals == partial.approvals and [a.user for a in back.approvals] == ["bob"]
    assert signal_to_json(partial)["standing"].startswith("1 of 2: bob approved ")

    GateRemote.for_sandbox(user="carol").approve("ok", ex.name, evidence_hash=seen)
    assert ex.wait(timeout=10) == 4
    decided = remote.get_signal("ok", ex.name)
    back = signal_from_json(signal_to_json(decided))
    assert back.identity_source == decided.identity_source == "claimed"
    assert (back.context or {})["evidence_hash"] == seen and back.approvals == decided.approvals
    assert back.policy == decided.policy

    record = remote.get_execution(ex.name)
    assert execution_from_json(execution_to_json(record)).launched_by == record.launched_by == \
        Identity("alice", "hub-env")
