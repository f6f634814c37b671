"""Telemetry (the RFC's section 4): executions and gates waiting, wait-time and resume-latency percentiles.

``metrics()`` returns a :class:`Metrics`; ``prometheus_text(m)`` renders it in Prometheus'
text format (served by the server extension at ``/gatewidgets/metrics``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from gatewidgets.remote import GateRemote
from gatewidgets.store.base import now

__all__ = ["Metrics", "Summary", "metrics", "prometheus_text"]

QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Summary:
    """Percentiles of a list of durations, in seconds."""

    count: int = 0
    total: float = 0.0
    quantiles: dict[float, float] = field(default_factory=dict)
    max: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Summary:
        if not seconds:
            return cls()
        ordered = sorted(seconds)
        return cls(len(ordered), sum(ordered), {q: _quantile(ordered, q) for q in QUANTILES}, ordered[-1])

    def __str__(self) -> str:
        if not self.count:
            return "n=0"
        parts = ", ".join(f"p{int(q * 100)}={_fmt(v)}" for q, v in self.quantiles.items())
        return f"n={self.count}, {parts}, max={_fmt(self.max or 0.0)}"


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


@dataclass(frozen=True)
class Metrics:
    """A snapshot of one project and domain."""

    project: str
    domain: str
    executions: dict[str, int]
    orphaned: int
    signals: dict[str, int]
    set_via: dict[str, int]
    gates_waiting: int
    wait_time: Summary  # reached -> answered or timed out, closed gates
    waiting_for: Summary  # how long the gates waiting now have waited
    resume_latency: Summary  # signal set -> gate node done

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able)."""
        def summary(s: Summary) -> dict[str, Any]:
            return {"count": s.count, "sum": s.total, "max": s.max,
                    **{f"p{int(q * 100)}": v for q, v in s.quantiles.items()}}
        return {"project": self.project, "domain": self.domain, "executions": self.executions,
                "orphaned": self.orphaned, "signals": self.signals, "set_via": self.set_via,
                "gates_waiting": self.gates_waiting, "wait_time_seconds": summary(self.wait_time),
                "waiting_for_seconds": summary(self.waiting_for),
                "resume_latency_seconds": summary(self.resume_latency)}

    def __str__(self) -> str:
        running = self.executions.get("RUNNING", 0)
        lines = [
            f"gatewidgets metrics for {self.project}/{self.domain}",
            "  executions: " + (", ".join(f"{k.lower()} {v}" for k, v in sorted(self.executions.items())) or "none")
            + (f" ({self.orphaned} of the {running} running are orphaned)" if self.orphaned else ""),
            f"  gates waiting: {self.gates_waiting}" + (f" ({self.waiting_for})" if self.gates_waiting else ""),
            "  signals: " + (", ".join(f"{k.lower()} {v}" for k, v in sorted(self.signals.items())) or "none"),
            "  answered via: " + (", ".join(f"{k} {v}" for k, v in sorted(self.set_via.items())) or "-"),
            f"  wait time: {self.wait_time}",
            f"  signal-to-resume latency: {self.resume_latency}",
        ]
        return "\n".join(lines)


def _seconds(pairs: list[tuple[str, str]]) -> list[float]:
    return [max(0.0, (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()) for a, b in pairs]


def metrics(remote: GateRemote | None = None, project: str | None = None, domain: str | None = None) -> Metrics:
    """Measure the store behind ``remote`` (default: this machine's) for one project and domain."""
    remote = remote or GateRemote.for_sandbox()
    project, domain = project or remote.default_project, domain or remote.default_domain
    raw = remote.stats(project, domain)
    stamp = now().isoformat()
    return Metrics(
        project=project, domain=domain, executions=raw["executions"], orphaned=raw["orphaned"],
        signals=raw["signals"], set_via={k or "none": v for k, v in raw["set_via"].items()},
        gates_waiting=len(raw["waiting_since"]),
        wait_time=Summary.of(_seconds(raw["waited"])),
        waiting_for=Summary.of(_seconds([(w, stamp) for w in raw["waiting_since"]])),
        resume_latency=Summary.of(_seconds(raw["resumed"])),
    )


class _Collector:
    """A prometheus_client collector of one :class:`Metrics` snapshot."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        m, base = self.m, {"project": self.m.project, "domain": self.m.domain}

        def gauge(name: str, help_text: str, values: dict[str, int] | int, label: str | None = None) -> Metric:
            family = Metric(name, help_text, "gauge")
            for key, value in sorted(values.items()) if isinstance(values, dict) else [(None, values)]:
                family.add_sample(name, base if label is None else {**base, label: str(key)}, value)
            return family

        yield gauge("gatewidgets_executions", "Executions by status.", m.executions, "status")
        yield gauge("gatewidgets_executions_orphaned", "Running executions whose process is gone.", m.orphaned)
        yield gauge("gatewidgets_gates_waiting", "Gates waiting for a signal now.", m.gates_waiting)
        yield gauge("gatewidgets_signals", "Signals by state.", m.signals, "state")
        yield gauge("gatewidgets_signals_closed", "Closed signals by the face that closed them.", m.set_via, "via")
        for name, help_text, summary in (
            ("gatewidgets_gate_wait_seconds", "Time from a gate being reached to its answer or timeout.", m.wait_time),
            ("gatewidgets_signal_resume_latency_seconds", "Time from a signal being set to its gate resuming.",
             m.resume_latency),
        ):
            family = Metric(name, help_text, "summary")
            for q, v in summary.quantiles.items():
                family.add_sample(name, {**base, "quantile": str(q)}, v)
            family.add_sample(f"{name}_sum", base, summary.total)
            family.add_sample(f"{name}_count", base, summary.count)
            yield family


def prometheus_text(m: Metrics) -> str:
    """``m`` in Prometheus' text exposition format (written by prometheus_client, labels escaped)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(m))
    return generate_latest(registry).decode()
