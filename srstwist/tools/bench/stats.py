# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's figures: one :class:`ClientResult` per connection, and the
report over all of them (percentiles, failures by reason, the tester's own
CPU) with its one-line summary.

Pure functions and plain data, so that workers can send their results to
the parent as JSON and the parent aggregates them exactly as a single
process would.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "ClientResult",
    "CpuSample",
    "FAILURE_REASONS",
    "build_report",
    "distribution",
    "failure_line",
    "kbps",
    "percentile",
    "realtime_ratio",
    "summary_line",
]

#: The reasons a connection can fail, as reported (``failures`` in JSON).
FAILURE_REASONS = (
    "refused",  # TCP connection refused
    "connect timeout",  # TCP connect did not finish within --timeout
    "connect failed",  # any other TCP connect error
    "handshake timeout",  # no complete S0S1S2 within --timeout
    "rtmp connect timeout",  # no connect _result
    "createStream timeout",
    "play timeout",  # play sent, no audio or video within --timeout
    "publish timeout",  # publish sent, no NetStream.Publish.Start
    "stalled",  # nothing received (player) or nothing writable (publisher) for --timeout
    "rejected",  # _error or an onStatus of level error
    "closed early",  # the server closed the connection before the end
    "protocol error",  # the server broke RTMP (handshake, chunks, AMF0, commands)
    "no media",  # the run ended before any audio or video
    "http error",  # HTTP modes: a status other than 200, or a bad response
)

#: The percentiles every distribution in the JSON report has.
_PERCENTILES = (5, 50, 95)


@dataclass(slots=True)
class ClientResult:
    """
    What one connection did.  Times are milliseconds from the start of its
    TCP connect; ``None`` when it never got there.

    :ivar index: the client's number, 0..N-1.
    :ivar stream: the stream it played or published.
    :ivar ok: it ran to the end without error and saw media.
    :ivar reason: one of :data:`FAILURE_REASONS` when not ok.
    :ivar detail: the error message behind the reason.
    :ivar connect_ms: until the TCP connection was established.
    :ivar handshake_ms: until the RTMP handshake completed.
    :ivar start_ms: until NetStream.Play.Start or NetStream.Publish.Start.
    :ivar first_video_ms: until the first video message (received, or for
        publishers sent).
    :ivar first_keyframe_ms: until the first key frame that is not a
        sequence header.
    :ivar bytes: bytes received (players) or sent (publishers), RTMP
        handshake and protocol overhead included.
    :ivar media_bytes: audio and video payload bytes.
    :ivar messages: audio and video messages.
    :ivar span_ms: media timestamp span of those messages.
    :ivar media_wall_s: seconds from the first media message to the end.
    :ivar duration_s: seconds from TCP connected to the end.
    :ivar counted_only: past its first key frame the client only counted
        bytes (``--sample``): its kbps and start times are measured, its
        real-time ratio is not.
    :ivar reader_stalled: a slow reader on purpose (``--stall``): it stopped
        reading after its first key frame; kept out of the distributions.
    """

    index: int
    stream: str = ""
    ok: bool = False
    reason: str | None = None
    detail: str = ""
    connect_ms: float | None = None
    handshake_ms: float | None = None
    start_ms: float | None = None
    first_video_ms: float | None = None
    first_keyframe_ms: float | None = None
    bytes: int = 0
    media_bytes: int = 0
    messages: int = 0
    span_ms: int = 0
    media_wall_s: float = 0.0
    duration_s: float = 0.0
    counted_only: bool = False
    reader_stalled: bool = False

    @property
    def kbps(self) -> float | None:
        """Bytes over the connected time, kbit/s."""
        return kbps(self.bytes, self.duration_s)

    @property
    def rt(self) -> float | None:
        """The real-time ratio, see :func:`realtime_ratio`."""
        if not self.messages or self.counted_only:
            return None
        return realtime_ratio(self.span_ms, self.media_wall_s)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived ``kbps`` and ``rt``."""
        out = asdict(self)
        out["kbps"] = _round(self.kbps, 1)
        out["rt"] = _round(self.rt, 3)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientResult:
        """The inverse of :meth:`to_dict` (derived keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class CpuSample:
    """
    One process's CPU use over the run.

    :ivar worker: the worker number; -1 for the parent of workers.
    """

    worker: int
    user_s: float
    sys_s: float
    wall_s: float
    clients: int = 0

    @property
    def percent(self) -> float:
        """(user + sys) / wall, percent of one core."""
        return 100.0 * (self.user_s + self.sys_s) / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["percent"] = round(self.percent, 1)
        return out


def kbps(byte_count: int, seconds: float) -> float | None:
    """``byte_count`` over ``seconds`` in kbit/s (1000 bits); ``None`` for no time."""
    if seconds <= 0:
        return None
    return byte_count * 8 / 1000.0 / seconds


def realtime_ratio(span_ms: float, wall_s: float) -> float | None:
    """
    The media timestamp span received over the wall time since the first
    media message: 1.0 when the stream arrives as fast as it plays.  A live
    player starts above 1 by the GOP cache burst and falls below 1 when
    the server cannot keep up.
    """
    if wall_s <= 0:
        return None
    return span_ms / 1000.0 / wall_s


def percentile(values: Sequence[float], p: float) -> float | None:
    """
    The ``p``-th percentile (0..100) by linear interpolation between the
    closest ranks (numpy's default); ``None`` for no values.
    """
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """
    ``count``, ``min``, ``p5``, ``med``, ``p95``, ``max`` and ``mean`` of
    the values that are not ``None``.
    """
    present = [v for v in values if v is not None]
    out: dict[str, float | int | None] = {"count": len(present)}
    out["min"] = min(present) if present else None
    for p in _PERCENTILES:
        out["med" if p == 50 else f"p{p}"] = percentile(present, p)
    out["max"] = max(present) if present else None
    out["mean"] = sum(present) / len(present) if present else None
    return {k: _round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def build_report(
    results: Sequence[ClientResult],
    *,
    mode: str,
    url: str,
    planned: int,
    wall_s: float,
    cpu: Sequence[CpuSample],
    interrupted: bool = False,
    include_clients: bool = True,
) -> dict[str, Any]:
    """
    The full report.  Distributions are over the clients that ended ok;
    ``cpu`` is the sum over ``cpu`` samples (workers, plus the parent when
    there are workers) over ``wall_s``.
    """
    stalled = [r for r in results if r.reader_stalled]
    results = [r for r in results if not r.reader_stalled]
    ok = [r for r in results if r.ok]
    failures = Counter(r.reason or "unknown" for r in results if not r.ok)
    examples: dict[str, str] = {}
    for r in results:
        if not r.ok and r.reason not in examples:
            examples[r.reason or "unknown"] = r.detail
    user = sum(c.user_s for c in cpu)
    system = sum(c.sys_s for c in cpu)
    report: dict[str, Any] = {
        "mode": mode,
        "url": url,
        "planned": planned,
        "n": len(results),
        "ok": len(ok),
        "failed": len(results) - len(ok),
        # Slow readers on purpose (--stall): how many, and how many the
        # server kept connected to the end.
        "stalled_readers": {"n": len(stalled), "ok": sum(1 for r in stalled if r.ok)},
        "interrupted": interrupted,
        "failures": dict(sorted(failures.items())),
        "failure_examples": examples,
        "wall_s": round(wall_s, 3),
        "bytes_total": sum(r.bytes for r in results),
        "kbps": distribution(r.kbps for r in ok),
        "rt": distribution(r.rt for r in ok),
        "first_video_ms": distribution(r.first_video_ms for r in ok),
        "first_keyframe_ms": distribution(r.first_keyframe_ms for r in ok),
        "connect_ms": distribution(r.connect_ms for r in ok),
        "handshake_ms": distribution(r.handshake_ms for r in ok),
        "start_ms": distribution(r.start_ms for r in ok),
        "cpu": {
            "percent": round(100.0 * (user + system) / wall_s, 1) if wall_s > 0 else 0.0,
            "user_s": round(user, 3),
            "sys_s": round(system, 3),
            "processes": [c.to_dict() for c in cpu],
        },
    }
    report["summary"] = summary_line(report)
    if include_clients:
        report["clients"] = [r.to_dict() for r in sorted(results, key=lambda r: r.index)]
    return report


def summary_line(report: Mapping[str, Any]) -> str:
    """
    The one-line summary, e.g. ``n=500 ok=500 failed=0 kbps_med=912
    kbps_p5=880 rt_med=0.99 fv_med_ms=63 fv_p95_ms=140 fk_med_ms=70
    connect_med_ms=1 cpu=35%``; ``-`` for a figure no client has.
    """
    return (
        f"n={report['n']} ok={report['ok']} failed={report['failed']}"
        f" kbps_med={_int(report['kbps']['med'])} kbps_p5={_int(report['kbps']['p5'])}"
        f" rt_med={_fixed(report['rt']['med'])}"
        f" fv_med_ms={_int(report['first_video_ms']['med'])}"
        f" fv_p95_ms={_int(report['first_video_ms']['p95'])}"
        f" fk_med_ms={_int(report['first_keyframe_ms']['med'])}"
        f" connect_med_ms={_int(report['connect_ms']['med'])}"
        f" cpu={_int(report['cpu']['percent'])}%"
    )


def failure_line(report: Mapping[str, Any]) -> str:
    """``failures: closed early=3 refused=2``, or ``""`` when none failed."""
    failures = report["failures"]
    if not failures:
        return ""
    return "failures: " + " ".join(f"{reason}={count}" for reason, count in failures.items())


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _int(value: float | None) -> str:
    return "-" if value is None else str(int(round(value)))


def _fixed(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
