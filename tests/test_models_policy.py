"""The rules of who may answer (gatewidgets.models.policy): validation, judgement, quorum, standing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewidgets.models.policy import (
    Ballot,
    Identity,
    Policy,
    evidence_hash,
    judge,
    may_answer,
    resolve_policy,
    standing,
)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
GROUPS = {"finance": ["bob", "carol"]}


def ballot(user: str, action: str = "approve", *, source: str = "server", value_key: str = "true",
           seen: str | None = None) -> Ballot:
    member_of = frozenset(g for g, members in GROUPS.items() if user in members)
    return Ballot(Identity(user, source), "http", action, value_key, member_of, None, seen)


def decide(policy: Policy | None, context: dict, b: Ballot, launcher: str | None = "alice",
           waiting_since: datetime | None = NOW, now: datetime = NOW):
    return judge(policy, context, b, launcher=launcher, waiting_since=waiting_since, now=now, groups=GROUPS)


def test_given_fields_are_validated_with_the_gate_named():
    assert Policy.given("approve('x')", assignees=["bob", "@finance"], quorum=2) == \
        {"assignees": ["bob", "@finance"], "quorum": 2}
    assert Policy.given("approve('x')", remind_every=timedelta(minutes=5)) == {"remind_every": 300.0}
    for bad, match in [({"quorum": 0}, "quorum"), ({"quorum": True}, "quorum"), ({"assignees": "bob"}, "list"),
                       ({"assignees": [""]}, "each entry"), ({"self_approval": "no"}, "True or False"),
                       ({"remind_every": -1}, "positive"), ({"escalate_to": ["@ops"]}, "escalate_after"),
                       ({"escalate_after": 60}, "escalate_to"), ({"color": "red"}, "unknown")]:
        with pytest.raises(ValueError, match=match) as info:
            Policy.given("approve('x')", **bad)
        assert "approve('x')" in str(info.value)


def test_no_policy_lets_anyone_answer():
    verdict = decide(None, {}, ballot("mallory", source="claimed"))
    assert verdict.refused is None and verdict.passes


def test_assignees_and_groups():
    policy = Policy(assignees=("dave", "@finance"))
    assert decide(policy, {}, ballot("dave")).passes
    assert decide(policy, {}, ballot("carol")).passes
    refused = decide(policy, {}, ballot("mallory"))
    assert not refused.passes
    assert refused.refused == "mallory is not an assignee; it may be answered by dave, @finance (bob, carol)"


def test_hub_vouched_groups_count_without_configuration():
    policy = Policy(assignees=("@risk",))
    hub_user = Ballot(Identity("erin", "hub", groups=("risk",)), "http", "set", "1")
    assert decide(policy, {}, hub_user).passes


def test_self_approval_off_refuses_the_launcher_but_lets_them_reject():
    policy = Policy(self_approval=False)
    assert "launched this execution" in (decide(policy, {}, ballot("alice")).refused or "")
    assert decide(policy, {}, ballot("alice", "reject")).passes
    assert decide(policy, {}, ballot("bob")).passes


def test_verified_needs_an_identity_a_server_established():
    policy = Policy(verified=True)
    assert "established by a server" in (decide(policy, {}, ballot("bob", source="os")).refused or "")
    assert "established by a server" in (decide(policy, {}, ballot("bob", source="claimed")).refused or "")
    for source in ("server", "hub", "database"):
        assert decide(policy, {}, ballot("bob", source=source)).passes


def test_quorum_counts_distinct_people_once_each():
    policy = Policy(assignees=("@finance", "dave"), quorum=2)
    first = decide(policy, {}, ballot("bob"))
    assert not first.passes and [a.user for a in first.approvals] == ["bob"]
    context = {"approvals": [a.to_dict() for a in first.approvals]}
    again = decide(policy, context, ballot("bob"))
    assert again.same and not again.passes
    second = decide(policy, context, ballot("carol"))
    assert second.passes and [a.user for a in second.approvals] == ["bob", "carol"]


def test_an_edited_value_needs_its_own_quorum():
    policy = Policy(quorum=2)
    first = decide(policy, {}, ballot("bob", value_key="true|100"))
    context = {"approvals": [a.to_dict() for a in first.approvals]}
    other = decide(policy, context, ballot("carol", value_key="true|90"))
    assert not other.passes  # carol approved 90, bob 100: nobody's value has two approvals
    context = {"approvals": [a.to_dict() for a in other.approvals]}
    assert decide(policy, context, ballot("bob", value_key="true|90")).passes  # bob changes his mind to 90


def test_one_allowed_rejection_rejects_under_a_quorum():
    policy = Policy(assignees=("@finance",), quorum=2)
    assert decide(policy, {}, ballot("bob", "reject", value_key="false")).passes


def test_escalation_adds_assignees_after_the_wait():
    policy = Policy(assignees=("dave",), escalate_after=3600, escalate_to=("@finance",))
    assert decide(policy, {}, ballot("bob"), now=NOW + timedelta(minutes=59)).refused
    assert decide(policy, {}, ballot("bob"), now=NOW + timedelta(hours=1)).passes
    anyone = Policy(escalate_after=3600, escalate_to=("@finance",))  # escalating never narrows "anyone"
    assert decide(anyone, {}, ballot("erin"), now=NOW + timedelta(hours=2)).passes
    assert anyone.assignees_at(NOW, NOW + timedelta(hours=2)) == ()


def test_evidence_pinning_refuses_a_decision_on_changed_evidence():
    shown = {"text": "total 100"}
    context = {"evidence": shown}
    assert decide(None, context, ballot("bob", seen=evidence_hash(shown))).passes
    refused = decide(None, {"evidence": {"text": "total 90"}}, ballot("bob", seen=evidence_hash(shown)))
    assert "evidence changed" in (refused.refused or "")


def test_standing_line():
    policy = Policy(assignees=("@finance",), quorum=2)
    first = decide(policy, {}, ballot("bob"))
    line = standing(policy, {"approvals": [a.to_dict() for a in first.approvals]}, waiting_since=NOW, now=NOW,
                    groups=GROUPS)
    assert line == "1 of 2: bob approved 10:00 — waiting for @finance (bob, carol)"
    assert standing(None, {}, waiting_since=NOW, now=NOW) is None


def test_defaults_by_scope_sit_under_the_gates_own_fields():
    defaults = {"*": {"quorum": 1}, "shop": {"self_approval": False},
                "shop/production": {"assignees": ["@finance"], "quorum": 2}}
    assert resolve_policy(None, defaults, "shop", "production") == \
        {"assignees": ["@finance"], "quorum": 2, "self_approval": False}
    assert resolve_policy({"quorum": 3}, defaults, "shop", "production")["quorum"] == 3
    assert resolve_policy(None, defaults, "other", "development") is None
    escalating = {"*": {"escalate_after": 3600, "escalate_to": ["boss"]}}  # valid alone, and so is the gate's own
    with pytest.raises(ValueError, match="escalate_after needs escalate_to"):  # their merge is not: refused at launch
        resolve_policy(Policy.given("gate", escalate_to=[]), escalating, "shop", "production")


def test_may_answer_says_why_not():
    policy = Policy(assignees=("bob",))
    assert may_answer(policy, Identity("bob", "os"), frozenset(), launcher=None, action="set",
                      waiting_since=NOW, now=NOW) is None
    assert "not an assignee" in (may_answer(policy, Identity("eve", "os"), frozenset(), launcher=None,
                                            action="set", waiting_since=NOW, now=NOW) or "")


def test_identity_round_trip_and_validation():
    hub = Identity("erin", "hub", groups=("risk",))
    assert Identity.from_dict(hub.to_dict()) == hub and hub.verified
    assert not Identity("erin", "os").verified
    assert Identity.from_dict({"user": 3}) is None
    with pytest.raises(ValueError, match="source"):
        Identity("erin", "wizard")


@settings(max_examples=200, deadline=None)
@given(order=st.permutations(["bob", "carol", "dave", "bob", "erin"]), quorum=st.integers(1, 4))
def test_a_value_passes_only_with_quorum_distinct_allowed_approvals(order, quorum):
    policy = Policy(assignees=("@finance", "dave"), quorum=quorum)
    context: dict = {}
    passed_with = None
    for user in order:
        verdict = decide(policy, context, ballot(user))
        if verdict.refused:
            assert user == "erin"
            continue
        context = {"approvals": [a.to_dict() for a in verdict.approvals]}
        if verdict.passes:
            passed_with = {a.user for a in verdict.approvals} or {user}  # a quorum of 1 counts nothing
            break
    allowed = {"bob", "carol", "dave"}
    if passed_with is not None:
        assert len(passed_with) >= quorum and passed_with <= allowed
    else:
        assert quorum > len(allowed)
