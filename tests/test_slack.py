"""The Slack incoming-webhook message (gatewidgets.slack), checked against slack_sdk's Block Kit models."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, SectionBlock

from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.signal import Signal, SignalIdentifier, SignalKind, SignalState
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.slack import SECTION_LIMIT, slack_message

KEY = WorkflowExecutionIdentifier("shop", "production", "pay-1")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)


def signal(description: str | None = "Pay **invoice** <42> & co", state: SignalState = SignalState.PENDING) -> Signal:
    return Signal(SignalIdentifier("release", KEY), SignalKind.APPROVE, LiteralType(simple=SimpleType.BOOLEAN),
                  state, None, "n1", description, NOW, NOW, datetime(2026, 12, 9, 10, 0, tzinfo=timezone.utc),
                  None, None, None)


def parsed(message: dict) -> list[Block]:
    """The message's blocks as slack_sdk builds them, each validated (SlackObjectFormationError otherwise)."""
    blocks = Block.parse_all(message["blocks"])
    for block, raw in zip(blocks, message["blocks"]):
        block.validate_json()
        assert block.to_dict() == raw  # nothing slack_sdk does not know, nothing it would drop
    return blocks


def test_a_waiting_gate_has_a_review_button_linking_to_its_inbox_page() -> None:
    url = "https://hub.example.org/services/gatewidgets/gatewidgets/inbox/shop/production/pay-1/release"
    message = slack_message("waiting", "Gate 'release' of execution 'pay-1' is waiting for a decision.", signal(),
                            url, "may be answered by @finance")
    section, context, actions = parsed(message)
    assert isinstance(section, SectionBlock) and isinstance(context, ContextBlock)
    assert isinstance(actions, ActionsBlock)
    [button] = actions.elements
    assert isinstance(button, ButtonElement) and button.url == url and button.text.text == "Review"
    assert message["text"].startswith("Gate 'release'")
    assert "&lt;42&gt; &amp; co" in section.text.text  # mrkdwn escaped: no injected links or mentions
    facts = message["blocks"][1]["elements"][0]["text"]
    assert "shop/production" in facts and "deadline 2026-12-09 10:00 UTC" in facts and "@finance" in facts


def test_without_an_inbox_url_or_once_decided_there_is_no_button() -> None:
    assert len(parsed(slack_message("waiting", "waiting", signal(), None))) == 2
    decided = slack_message("decided", "approved", signal(state=SignalState.SET), "https://x/inbox")
    assert [b.type for b in parsed(decided)] == ["section", "context"]
    assert "deadline" not in decided["blocks"][1]["elements"][0]["text"]


@pytest.mark.parametrize("size", [SECTION_LIMIT, 10 * SECTION_LIMIT])
def test_long_descriptions_are_cut_to_block_kits_limits(size: int) -> None:
    message = slack_message("waiting", "s" * 5000, signal("d" * size), "https://x/inbox")
    section = parsed(message)[0]
    assert len(section.text.text) <= SECTION_LIMIT and section.text.text.endswith("…")
    assert len(message["text"]) <= 3000
