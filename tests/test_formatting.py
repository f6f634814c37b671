"""Text of values and of history details (gatewidgets.formatting)."""
from __future__ import annotations

from gatewidgets.formatting import who_decided


def test_history_details_say_who_decided_and_whom_a_timeline_step_reached() -> None:
    assert who_decided({"reason": "alice launched this execution and self-approval is off",
                        "identity_source": "hub-env"}) == \
        ["refused: alice launched this execution and self-approval is off", "as hub-env"]
    assert who_decided({"reminder": 2, "assignees": ["bob", "@finance"]}) == ["reminder 2 to bob, @finance"]
    assert who_decided({"reminder": 1, "assignees": []}) == ["reminder 1"]
    assert who_decided({"added": ["@boss"], "after": 3600.0}) == ["escalated: added @boss"]
    assert who_decided({"comment": "ok"}) == []
