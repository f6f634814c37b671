"""Who may answer a gate: ``Policy`` (assignees, quorum, self-approval, a vouched identity, reminders and
escalation), the ``Identity`` a decision is made with, and :func:`judge`, the one rule every store applies in
its write path. Pure data and rules: no store, no face.

The rules, in the order :func:`judge` applies them:

0. A stored policy that cannot be read (not a mapping of known, valid fields: a row edited by hand, a policy
   of a newer version) is shown as unreadable and refuses every decision (fail closed: it never counts as no
   policy).
1. ``verified``: the decision needs an identity a server established (``Identity.verified``: the Jupyter
   server's login, JupyterHub's, the database's role), not one a process claims.
2. ``self_approval=False``: the user who launched the execution may not approve it or answer it (rejecting
   stays allowed: anyone may stop their own work).
3. ``assignees``: users and ``@groups`` who may answer (empty: anyone who can reach the gate); after
   ``escalate_after`` seconds of waiting, ``escalate_to`` may answer too.
4. ``quorum`` (approvals only): the approval passes once that many *distinct* allowed people approved the
   same value; one allowed rejection rejects at once. Approving twice counts once. An edited approval
   (``editable=True``) counts only for the value it approved: approvals already given for another value stay
   in the history but do not count for the new one, so no value flows on that fewer than ``quorum`` approved.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, TypedDict

__all__ = ["Identity", "Policy", "PolicyFields", "Ballot", "Approval", "Verdict", "judge", "may_answer", "standing",
           "resolve_policy", "evidence_hash", "SOURCES", "VERIFIED_SOURCES", "POLICY_FIELDS"]

#: How an identity was established: ``server`` the Jupyter server's IdentityProvider (its login), ``hub``
#: JupyterHub's OAuth (a hub service), ``database`` the database's login role, ``hub-env`` the
#: ``JUPYTERHUB_USER`` a hub spawned the process with, ``os`` the process's OS user, ``claimed`` a name the
#: caller gave.
SOURCES = ("server", "hub", "database", "hub-env", "os", "claimed")
VERIFIED_SOURCES = frozenset({"server", "hub", "database"})
POLICY_FIELDS = ("assignees", "quorum", "self_approval", "verified", "remind_every", "escalate_after",
                 "escalate_to")


@dataclass(frozen=True)
class Identity:
    """Who makes a decision or a launch, how that was established (``source``, one of :data:`SOURCES`), and the
    groups the establishing authority vouches for (JupyterHub's groups; configured groups are added when judged)."""

    user: str
    source: str = "claimed"
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.user, str) or not self.user.strip() or len(self.user) > 200:
            raise ValueError(f"A user name must be non-empty text of at most 200 characters, got {self.user!r}.")
        if self.source not in SOURCES:
            raise ValueError(f"An identity's source must be one of {SOURCES}, got {self.source!r}.")

    @property
    def verified(self) -> bool:
        """Established by a server (login, hub, database role), not merely claimed by a process."""
        return self.source in VERIFIED_SOURCES

    @classmethod
    def of_process(cls) -> Identity:
        """This process's user: ``JUPYTERHUB_USER`` when a hub spawned it, else the OS user."""
        hub_user = os.environ.get("JUPYTERHUB_USER", "").strip()
        if hub_user:
            return cls(hub_user, "hub-env")
        try:
            return cls(getpass.getuser(), "os")
        except Exception:  # no login name (some containers)
            return cls("unknown", "os")

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "source": self.source, **({"groups": list(self.groups)} if self.groups else {})}

    @classmethod
    def from_dict(cls, data: Any) -> Identity | None:
        """An identity back from :meth:`to_dict` (None for anything else: a store written by hand)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("user"), str):
            return None
        try:
            return cls(data["user"], str(data.get("source", "claimed")),
                       tuple(g for g in data.get("groups") or () if isinstance(g, str)))
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.user} ({self.source})"


class PolicyFields(TypedDict, total=False):
    """The policy keywords every gate takes (``approve(..., assignees=["alice", "@finance"], quorum=2)``)."""

    assignees: Iterable[str] | None
    quorum: int | None
    self_approval: bool | None
    verified: bool | None
    remind_every: timedelta | float | None
    escalate_after: timedelta | float | None
    escalate_to: Iterable[str] | None


def _seconds(value: Any, name: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: {name} must be a positive number of seconds or a timedelta, got {value!r}.")
    return float(value)


def _names(value: Any, name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{where}: {name} must be a list of user names and @groups, got {value!r}.")
    names = tuple(value)
    for entry in names:
        if not isinstance(entry, str) or not entry.strip("@ ") or entry != entry.strip() or len(entry) > 200:
            raise ValueError(f"{where}: {name} holds {entry!r}; each entry is a user name or @group.")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Policy:
    """Who may answer one gate (see the module's rules). Stored in the signal's context, so every process and
    store judges the same policy; ``remind_every`` and ``escalate_after`` are seconds."""

    assignees: tuple[str, ...] = ()
    quorum: int = 1
    self_approval: bool = True
    verified: bool = False
    remind_every: float | None = None
    escalate_after: float | None = None
    escalate_to: tuple[str, ...] = ()
    unreadable: str | None = None  # why the stored policy could not be read: nobody may decide (see the rules)

    @classmethod
    def given(cls, where: str, **fields: Any) -> dict[str, Any]:
        """The fields a gate was given (``None`` ones left out), validated, in JSON form; ``ValueError``
        naming ``where`` and the field for a bad one."""
        unknown = set(fields) - set(POLICY_FIELDS)
        if unknown:
            raise ValueError(f"{where}: unknown policy field(s) {sorted(unknown)}; known: {list(POLICY_FIELDS)}.")
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if value is None:
                continue
            if name in ("assignees", "escalate_to"):
                out[name] = list(_names(value, name, where))
            elif name == "quorum":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                    raise ValueError(f"{where}: quorum must be a whole number from 1 to 100, got {value!r}.")
                out[name] = value
            elif name in ("self_approval", "verified"):
                if not isinstance(value, bool):
                    raise ValueError(f"{where}: {name} must be True or False, got {value!r}.")
                out[name] = value
            else:
                out[name] = _seconds(value, name, where)
        if out.get("escalate_to") and "escalate_after" not in out:
            raise ValueError(f"{where}: escalate_to needs escalate_after (how long the gate waits first).")
        if "escalate_after" in out and not out.get("escalate_to"):
            raise ValueError(f"{where}: escalate_after needs escalate_to (who is added after that time).")
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Policy | None:
        """The policy stored in a signal's context: None when it has none (``None``); never raises: a policy that
        cannot be read (not a mapping of known, valid fields) comes back :attr:`unreadable`, which refuses every
        decision. An empty mapping is the default policy (as :meth:`to_dict` gives it)."""
        if data is None:
            return None
        if isinstance(data, Mapping) and set(data) == {"unreadable"}:  # as :meth:`to_dict` gives one
            return cls(unreadable=str(data["unreadable"]))
        if not isinstance(data, Mapping):
            return cls(unreadable=f"it is {json.dumps(data, default=repr)[:80]}, not a mapping of policy fields")
        try:
            fields = cls.given("the stored policy", **data)
        except (ValueError, TypeError) as exc:  # TypeError: a key that is not a string
            return cls(unreadable=str(exc).removeprefix("the stored policy: ").rstrip("."))
        read: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return replace(cls(), **read)

    def to_dict(self) -> dict[str, Any]:
        """Every field that differs from the default, in JSON form (``{"unreadable": why}`` for an unreadable
        policy, which :meth:`from_dict` reads back as unreadable)."""
        if self.unreadable is not None:
            return {"unreadable": self.unreadable}
        default = Policy()
        return {name: list(value) if isinstance(value, tuple) else value
                for name in POLICY_FIELDS if (value := getattr(self, name)) != getattr(default, name)}

    def assignees_at(self, waiting_since: datetime | None, now: datetime) -> tuple[str, ...]:
        """Who may answer at ``now``: the assignees, plus ``escalate_to`` once the gate waited ``escalate_after``
        (a gate without assignees stays open to anyone: escalating adds people, it never narrows)."""
        if self.assignees and self.escalated(waiting_since, now):
            return tuple(dict.fromkeys(self.assignees + self.escalate_to))
        return self.assignees

    def escalated(self, waiting_since: datetime | None, now: datetime) -> bool:
        return (self.escalate_after is not None and waiting_since is not None
                and now >= waiting_since + timedelta(seconds=self.escalate_after))


def resolve_policy(given: Mapping[str, Any] | None, defaults: Mapping[str, Any], project: str,
                   domain: str) -> dict[str, Any] | None:
    """The policy a gate of ``project``/``domain`` is launched with: the configured defaults (``"*"``, then
    ``"<project>"``, then ``"<project>/<domain>"``) under the fields the gate gave itself; None for none."""
    merged: dict[str, Any] = {}
    for scope in ("*", project, f"{project}/{domain}"):
        merged.update(Policy.given(f"GateWidgets.policies[{scope!r}]", **dict(defaults.get(scope) or {})))
    merged.update(given or {})
    policy = Policy.from_dict(merged or None)
    if policy is not None and policy.unreadable:  # each part valid, their merge not: a definition error
        raise ValueError(f"the gate's policy under GateWidgets.policies: {policy.unreadable}.")
    return policy.to_dict() or None if policy else None


def evidence_hash(evidence: Any) -> str | None:
    """A short hash of the evidence an approver was shown (a signal's ``context["evidence"]``), or None."""
    if not evidence:
        return None
    text = json.dumps(evidence, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class Approval:
    """One approval counted towards a quorum (kept in the signal's context and its history)."""

    user: str
    source: str
    via: str
    at: str  # ISO 8601, UTC
    value_key: str  # which value it approved (an edited approval's value)
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "source": self.source, "via": self.via, "at": self.at,
                "value_key": self.value_key, **({"comment": self.comment} if self.comment else {})}

    @classmethod
    def from_dict(cls, data: Any) -> Approval | None:
        if not isinstance(data, Mapping) or not all(isinstance(data.get(k), str) for k in
                                                      ("user", "source", "via", "at", "value_key")):
            return None
        comment = data.get("comment")
        return cls(data["user"], data["source"], data["via"], data["at"], data["value_key"],
                   comment if isinstance(comment, str) else None)


def approvals_of(context: Mapping[str, Any] | None) -> list[Approval]:
    """The approvals a signal's context holds, oldest first."""
    found = (Approval.from_dict(a) for a in (context or {}).get("approvals") or ())
    return [a for a in found if a is not None]


@dataclass(frozen=True)
class Ballot:
    """One decision attempt: who (``identity``), through which face (``via``), doing what (``action``: approve,
    reject, set or end), for which value (``value_key``), and the groups ``identity`` belongs to."""

    identity: Identity
    via: str
    action: str
    value_key: str = ""
    member_of: frozenset[str] = field(default_factory=frozenset)
    comment: str | None = None
    seen: str | None = None  # the evidence hash the decider was shown (None: not given)


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` decided: ``refused`` (why, naming who may answer), else the approvals to keep and
    whether the signal is set now (``passes``) or waits for more (``passes`` False: a partial approval);
    ``same``: the decider had already approved that value (nothing changes)."""

    refused: str | None = None
    approvals: tuple[Approval, ...] = ()
    passes: bool = True
    same: bool = False


def _member(identity: Identity, names: Iterable[str], member_of: frozenset[str]) -> bool:
    for name in names:
        if name.startswith("@") and (name[1:] in member_of or name[1:] in identity.groups):
            return True
        if name == identity.user:
            return True
    return False


def who(names: Iterable[str], groups: Mapping[str, Iterable[str]] | None = None) -> str:
    """``alice, @finance (bob, carol)``: the assignees, each group with its configured members when known."""
    parts = []
    for name in names:
        members = list((groups or {}).get(name[1:], ())) if name.startswith("@") else []
        parts.append(f"{name} ({', '.join(members)})" if members else name)
    return ", ".join(parts)


def may_answer(policy: Policy | None, identity: Identity, member_of: frozenset[str], *, launcher: str | None,
               action: str, waiting_since: datetime | None, now: datetime,
               groups: Mapping[str, Iterable[str]] | None = None) -> str | None:
    """Why ``identity`` may not take ``action`` on a gate under ``policy`` (one sentence), or None when it may."""
    if policy is None:
        return None
    if policy.unreadable is not None:
        return (f"its stored policy is unreadable ({policy.unreadable}); nobody may decide it until the policy is "
                "repaired in the store")
    if policy.verified and not identity.verified:
        return (f"it needs an identity established by a server (Jupyter's or JupyterHub's login, the database's "
                f"role); {identity.user} is known to this process only as {identity.source!r}")
    if not policy.self_approval and launcher is not None and identity.user == launcher and action != "reject":
        return f"{identity.user} launched this execution and self-approval is off"
    allowed = policy.assignees_at(waiting_since, now)
    if allowed and not _member(identity, allowed, member_of):
        return f"{identity.user} is not an assignee; it may be answered by {who(allowed, groups)}"
    return None


def judge(policy: Policy | None, context: Mapping[str, Any] | None, ballot: Ballot, *, launcher: str | None,
          waiting_since: datetime | None, now: datetime,
          groups: Mapping[str, Iterable[str]] | None = None) -> Verdict:
    """Apply the rules to one ballot on an open signal whose context is ``context`` (its approvals so far)."""
    reason = may_answer(policy, ballot.identity, ballot.member_of, launcher=launcher, action=ballot.action,
                        waiting_since=waiting_since, now=now, groups=groups)
    if reason:
        return Verdict(refused=reason, passes=False)
    if ballot.seen is not None:
        held = evidence_hash((context or {}).get("evidence"))
        if held != ballot.seen:
            return Verdict(refused=f"the evidence changed since it was shown (shown {ballot.seen}, now {held}); "
                                   "look at it again and decide", passes=False)
    given = approvals_of(context)
    if policy is None or policy.quorum <= 1 or ballot.action != "approve":
        return Verdict(approvals=tuple(given))
    mine = Approval(ballot.identity.user, ballot.identity.source, ballot.via, now.isoformat(), ballot.value_key,
                    ballot.comment)
    if any(a.user == mine.user and a.value_key == mine.value_key for a in given):
        return Verdict(approvals=tuple(given), passes=False, same=True)
    kept = [a for a in given if a.user != mine.user] + [mine]
    agreeing = sum(a.value_key == mine.value_key for a in kept)
    return Verdict(approvals=tuple(kept), passes=agreeing >= policy.quorum)


def standing(policy: Policy | None, context: Mapping[str, Any] | None, *, waiting_since: datetime | None,
             now: datetime, groups: Mapping[str, Iterable[str]] | None = None) -> str | None:
    """Where a decision stands, in one line: ``1 of 2: alice approved 10:02 — waiting for @finance`` (None
    without a policy)."""
    if policy is None:
        return None
    if policy.unreadable is not None:
        return f"stored policy unreadable ({policy.unreadable}): nobody may decide"
    allowed = policy.assignees_at(waiting_since, now)
    waiting = f"waiting for {who(allowed, groups)}" if allowed else "waiting for anyone"
    if policy.quorum <= 1:
        return waiting if allowed else None
    given = approvals_of(context)
    latest = given[-1].value_key if given else None
    counted = [a for a in given if a.value_key == latest]
    done = ", ".join(f"{a.user} approved {a.at[11:16]}" for a in counted)
    return f"{len(counted)} of {policy.quorum}" + (f": {done}" if done else "") + f" — {waiting}"
