"""``aicarbon watch`` on screen: a live table on a terminal, one plain line per interval
otherwise (a pipe, a log). Every name (a process's, a GPU's) is untrusted and escaped."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..records.watch import WatchFrame
from .escape import escaped_copy, visible
from .sparkline import sparkline
from .units import fmt_power

SPARK_POINTS = 30  # the last minute, resampled to this many characters


def _spark(values: list[float], unicode: bool) -> str:
    if len(values) > SPARK_POINTS:
        step = len(values) / SPARK_POINTS
        values = [
            sum(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
            / max(int((i + 1) * step) - int(i * step), 1)
            for i in range(SPARK_POINTS)
        ]
    return sparkline(values, unicode=unicode)


def _power(value: float | None, estimated: bool) -> str:
    if value is None:
        return "-"
    return ("~" if estimated else "") + fmt_power(value)


def plain_line(frame: WatchFrame) -> str:
    """One line per interval, for a pipe or a log: time, total, each domain, top processes."""
    parts = [frame.at_utc, f"total {_power(frame.total_w, frame.estimated)}"]
    for d in frame.domains:
        parts.append(f"{visible(d.label)} {_power(d.power_w, d.method == 'estimated')}")
    if frame.cpu_users:
        top = ", ".join(f"{visible(u.name)}[{u.pid}] {u.cpu_share * 100:.0f}%" for u in frame.cpu_users[:3])
        parts.append(f"top CPU: {top}")
    for g in frame.gpu_users:
        who = ", ".join(f"{visible(name)}[{pid}]" for pid, name in g.processes) or "none"
        parts.append(f"{visible(g.label)}: {who}")
    return "  ".join(parts)


NARROW = 60  # columns below which the tables give way to one figure a line


def live_view(frame: WatchFrame | None, interval_s: float, unicode: bool = True, width: int = 80) -> Group:
    """The screen: power by domain with its last minute, then the processes drawing the most;
    on a terminal narrower than ``NARROW`` columns, the same figures one a line, so that every
    watt stays readable (the tables would cut them to an ellipsis)."""
    if frame is None:
        return Group(Text(f"aicarbon watch: measuring... (first figures after {interval_s:g} s)"))
    frame = escaped_copy(frame)
    if width < NARROW:
        return _narrow_view(frame, width)
    power = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, header_style="bold")
    power.add_column("Domain", max_width=26, no_wrap=True, overflow="ellipsis")
    power.add_column("Power", justify="right", width=10)
    power.add_column("Last minute", width=SPARK_POINTS, no_wrap=True)
    power.add_column("How", no_wrap=True)
    for d in frame.domains:
        power.add_row(
            d.label + ("" if d.in_total else " *"),
            _power(d.power_w, d.method == "estimated"),
            _spark(d.history_w, unicode),
            d.method,
            style=None if d.in_total else "dim",
        )
    power.add_row(
        Text("Total", style="bold"), Text(_power(frame.total_w, frame.estimated), style="bold"), "", ""
    )
    users = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, header_style="bold")
    users.add_column("PID", justify="right")
    users.add_column("Process", max_width=30, no_wrap=True, overflow="ellipsis")
    users.add_column("CPU", justify="right")
    for u in frame.cpu_users:
        users.add_row(str(u.pid), u.name, f"{u.cpu_share * 100:.0f}%")
    parts: list[Table | Text] = [
        Text(f"aicarbon watch · {frame.at_utc} · every {interval_s:g} s · q or Ctrl-C to quit", style="bold"),
        power,
        Text("Drawing the most CPU (% of one core):"),
        users,
    ]
    for g in frame.gpu_users:
        who = ", ".join(f"{name} [{pid}]" for pid, name in g.processes) or "no process"
        if g.unknown:
            who = g.unknown
        parts.append(Text(f"{g.label}: {who}"))
    if frame.estimated:
        parts.append(Text("~ estimated, not measured ('aicarbon devices' says why and how to measure)"))
    return Group(*parts)


def _narrow_view(frame: WatchFrame, width: int) -> Group:
    """Label and figure on one line where they fit, else the figure on a line of its own:
    nothing that matters is cut, down to about ten columns."""
    lines = [Text("aicarbon watch (q quits)", style="bold")]

    def pair(label: str, figure: str, style: str = "") -> None:
        if len(label) + 1 + len(figure) <= width:
            lines.append(Text(f"{label} {figure}", style=style))
        else:
            lines.extend([Text(label, style=style), Text(figure, style=style, no_wrap=True)])

    pair("Total", _power(frame.total_w, frame.estimated), "bold")
    for d in frame.domains:
        pair(d.label + ("" if d.in_total else " *"), _power(d.power_w, d.method == "estimated"))
    if frame.cpu_users:
        lines.append(Text("Top CPU:"))
        for u in frame.cpu_users[:5]:
            pair(u.name, f"{u.cpu_share * 100:.0f}%")
    for g in frame.gpu_users:
        who = ", ".join(name for _, name in g.processes) or (g.unknown or "no process")
        lines.append(Text(f"{g.label}: {who}"))
    if frame.estimated:
        lines.append(Text("~ estimated"))
    return Group(*lines)
