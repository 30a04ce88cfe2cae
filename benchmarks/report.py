"""A benchmark run as files: ``results/<date>.json``, ``results/<date>.md`` and PNG charts; the README's table.

``conftest.py`` calls ``write_report`` at the end of a run made with
``--otc-report`` (``otc bench`` does). Run as a script it prints the
README's "How it compares" table from the latest results (or a given JSON)::

    python benchmarks/report.py [benchmarks/results/<date>.json]
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_support import Figure, quick

__all__ = ["comparison_table", "latest", "write_report"]

RESULTS = Path(__file__).parent / "results"
REFERENCE = "otc-runtime"
COLUMNS = {
    "fresh": "fresh run",
    "session": "session run",
    "tools-sequential": "1000 tool calls",
    "tools-concurrent": "1000 x 10 ms calls, 100 at once",
    "compute": "compute, x otc (geo. mean)",
    "memory": "memory / sandbox (RSS)",
    "memory-private": "private memory / sandbox",
    "throughput": "fresh runs/s, 2 threads",
}
LOWER_IS_BETTER = (
    "Times and memory: lower is better; runs/s: higher is better. (1.9x): 1.9 times otc-runtime's figure, "
    "measured against otc-runtime in the same rounds (so not always the quotient of two cells)."
)


def _machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def ratio_text(ratio: float) -> str:
    if ratio < 0.01:
        return "<0.01x"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _figure_dict(figure: Figure) -> dict[str, Any]:
    data = dataclasses.asdict(figure)
    data["value"] = None if math.isnan(figure.value) else figure.value
    return data


def write_report(figures: Sequence[Figure], notes: dict[str, Any], out: Path, *, command: str) -> list[Path]:
    """Write ``<date>.json``, ``<date>.md`` and ``<date>-*.png`` into ``out`` (``<date>-quick...`` for a quick run,
    so that it never overwrites the day's full run); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    stem = datetime.date.today().isoformat() + ("-quick" if quick() else "")
    data = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "quick": quick(),
        "machine": _machine(),
        "notes": {key: value for key, value in notes.items() if key != "written"},
        "figures": [_figure_dict(figure) for figure in figures],
    }
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    charts = _charts(data, out, stem)
    md_path = out / f"{stem}.md"
    md_path.write_text(_markdown(data, charts))
    return [json_path, md_path, *charts]


def latest(results: Path = RESULTS) -> Path | None:
    """The newest ``<date>.json`` in ``results`` (a full run), else the newest quick one."""
    for pattern in ("????-??-??.json", "????-??-??-quick.json"):
        found = sorted(results.glob(pattern))
        if found:
            return found[-1]
    return None


def fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if unit == "s":
        if value >= 10:
            return f"{value:.1f} s"
        return f"{value * 1e3:.3g} ms" if value >= 1e-3 else f"{value * 1e6:.3g} us"
    if unit == "MiB":
        return f"{value:.3g} MiB" if value >= 0.01 else "< 0.01 MiB"
    if unit == "x":
        return f"{value:.3g}x"
    return f"{value:,.0f} {unit}"


def _peer_figures(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(peer, column) -> the figure for the comparison table (compute: one made-up geometric mean)."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    ratios: dict[str, list[float]] = {}
    for fig in data["figures"]:
        scenario, peer = fig["scenario"], fig["peer"]
        if not peer or scenario.split(":")[0] not in COLUMNS:
            continue
        if scenario.startswith("compute:"):
            if fig["status"]:
                cells[(peer, "compute")] = fig
            elif fig["ratio"] is not None:
                ratios.setdefault(peer, []).append(fig["ratio"])
            continue
        cells[(peer, scenario)] = fig
        if scenario == "memory" and fig["status"]:
            cells[(peer, "memory-private")] = fig
    for peer, values in ratios.items():
        mean = math.exp(statistics.fmean(math.log(v) for v in values))
        cells[(peer, "compute")] = {"value": mean, "unit": "x", "ratio": None, "status": "", "peer": peer}
    return cells


def _cell(fig: dict[str, Any] | None, *, full: bool) -> str:
    if fig is None:
        return "not run"
    if fig["status"]:
        reason = fig["status"].removeprefix("n/a: ")
        return f"n/a: {reason if full else reason.split(':')[0].split(' (')[0]}"
    ratio = ""
    if fig.get("ratio") is not None and fig["peer"] != REFERENCE:
        ratio = f" ({ratio_text(fig['ratio'])})"
    return fmt(fig["value"], fig["unit"]) + ratio


def comparison_table(data: dict[str, Any], *, full: bool = False) -> str:
    """The "How it compares" table: a row per peer, a column per scenario, medians and (x otc-runtime)."""
    cells = _peer_figures(data)
    peers = list(dict.fromkeys(peer for peer, _ in cells))
    about = {p["name"]: p for p in data["notes"].get("peers", [])}
    lines = [
        "| peer | " + " | ".join(COLUMNS.values()) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for peer in peers:
        version = about.get(peer, {}).get("version", "")
        name = f"{peer} {version}".strip() if version and version[0].isdigit() else peer
        lines.append(f"| {name} | " + " | ".join(_cell(cells.get((peer, c)), full=full) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _isolation(data: dict[str, Any]) -> str:
    rows = [
        f"- **{p['name']}** ({p['version'] or p['available']}): isolates {p['isolates']}. "
        f"Not isolated: {p['does_not_isolate']}."
        for p in data["notes"].get("peers", [])
    ]
    return "\n".join(rows) + "\n" if rows else ""


def _section_table(figures: list[dict[str, Any]]) -> str:
    lines = ["| figure | median | spread (25-75%) | x otc-runtime | goal | how |", "|---|---|---|---|---|---|"]
    for fig in figures:
        spread = fig["spread"]
        spread_text = f"{fmt(spread[0], fig['unit'])} - {fmt(spread[1], fig['unit'])}" if spread else ""
        ratio = ratio_text(fig["ratio"]) if fig["ratio"] is not None else ""
        value = fig["status"] or fmt(fig["value"], fig["unit"])
        rounds = f"{fig['rounds']} rounds; " if fig["rounds"] > 1 else ""
        detail = f"{rounds}{fig['detail']}".replace("|", "/")
        lines.append(f"| {fig['name']} | {value} | {spread_text} | {ratio} | {fig['goal']} | {detail} |")
    return "\n".join(lines) + "\n"


def _markdown(data: dict[str, Any], charts: list[Path]) -> str:
    m = data["machine"]
    parts = [
        f"# otc-runtime benchmarks, {data['date']}{' (quick)' if data['quick'] else ''}\n\n",
        f"Command: `{data['command']}`  \nMachine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"{m['platform']}, load average {m['load_average']} at the end.\n\n",
        "Each figure is the median of its rounds, with the 25-75% spread; ratios are to otc-runtime measured in "
        "the same run (latency scenarios interleave the two round by round). Timings on a shared machine move "
        "between runs; ratios move less.\n\n",
        "## How it compares\n\n",
        comparison_table(data, full=True),
        f"\n{LOWER_IS_BETTER}\n\n",
        _isolation(data),
        "\n",
        *(f"![{chart.stem}]({chart.name})\n\n" for chart in charts),
    ]
    sections: dict[str, list[dict[str, Any]]] = {}
    for fig in data["figures"]:
        sections.setdefault(fig["section"], []).append(fig)
    for section, figures in sections.items():
        parts += [f"## {section}\n\n", _section_table(figures), "\n"]
    if "bfcl" in data["notes"]:
        parts.append(f"BFCL data: `{json.dumps(data['notes']['bfcl'])}`\n")
    return "".join(parts)


# --- charts ---------------------------------------------------------------------------------------------------------

CHART_SCENARIOS = ["fresh", "session", "tools-sequential", "tools-concurrent", "memory-private", "throughput"]
OTC_COLOR, PEER_COLOR = "#1f6feb", "#9aa4b2"
PALETTE = ["#6e7781", "#e36209", "#2da44e", "#cf222e", "#8250df", "#bf8700"]
"""Colours of the other peers in the compute chart (otc-runtime is always OTC_COLOR)."""


def _charts(data: dict[str, Any], out: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, draw in (("peers", _draw_peers), ("compute", _draw_compute), ("bfcl", _draw_bfcl)):
        fig = draw(plt, data)
        if fig is not None:
            path = out / f"{stem}-{name}.png"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written


def _draw_peers(plt: Any, data: dict[str, Any]) -> Any:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    cells = _peer_figures(data)
    peers = list(dict.fromkeys(peer for peer, _ in cells))
    if not peers:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, scenario in zip(axes.flat, CHART_SCENARIOS, strict=True):
        figs = [(p, f) for p in peers if (f := cells.get((p, scenario))) is not None]
        unit = next((f["unit"] for _, f in figs), "s")
        values = [f["value"] if f["value"] is not None and not f["status"] else 0.0 for _, f in figs]
        colors = [OTC_COLOR if p == REFERENCE else PEER_COLOR for p, _ in figs]
        ax.barh([p for p, _ in figs], values, color=colors)
        ax.invert_yaxis()
        measured = [v for v in values if v > 0]
        if unit == "s" and measured and max(measured) > 20 * min(measured):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        if unit == "s":
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt(x, "s") if x > 0 else "0"))
        for y, ((_, f), v) in enumerate(zip(figs, values, strict=True)):
            if v:
                ax.text(v, y, f"  {_cell(f, full=False)}", va="center", fontsize=8)
            else:  # n/a, or nothing measurable: written from the left edge
                ax.text(0.01, y, _cell(f, full=False), va="center", fontsize=8, transform=ax.get_yaxis_transform())
        better = "higher is better" if unit == "runs/s" else "lower is better"
        ax.set_title(f"{COLUMNS[scenario]}\n({unit}, {better})", fontsize=10)
        ax.margins(x=0.45)
    fig.suptitle("otc-runtime and its peers: medians from one run (labels: value and ratio to otc-runtime)")
    fig.tight_layout()
    return fig


def _draw_compute(plt: Any, data: dict[str, Any]) -> Any:
    rows = [f for f in data["figures"] if f["scenario"].startswith("compute:") and f["ratio"] is not None]
    if not rows:
        return None
    workloads = list(dict.fromkeys(f["scenario"].split(":")[1] for f in rows))
    peers = list(dict.fromkeys(f["peer"] for f in rows))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        ratio = {f["scenario"].split(":")[1]: f["ratio"] for f in rows if f["peer"] == peer}
        xs = [j + i * width for j, w in enumerate(workloads) if w in ratio]
        color = OTC_COLOR if peer == REFERENCE else PALETTE[i % len(PALETTE)]
        ax.bar(xs, [ratio[w] for w in workloads if w in ratio], width, label=peer, color=color)
    ax.axhline(1.0, color=OTC_COLOR, linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([j + width * (len(peers) - 1) / 2 for j in range(len(workloads))], workloads)
    ax.set_ylabel("time / otc-runtime's time (log; lower is faster)")
    ax.set_title("Compute suite in sessions: each peer's median time relative to otc-runtime, same rounds")
    ax.legend(fontsize=8)
    return fig


def _draw_bfcl(plt: Any, data: dict[str, Any]) -> Any:
    rows = [f for f in data["figures"] if f["scenario"].startswith("bfcl:") and f["peer"] != "dataset"]
    if not rows:
        return None
    metrics = {
        "bfcl:round_trips": "model round trips",
        "bfcl:bytes": "tool output to the model (bytes)",
        "bfcl:wall": "wall time (s), incl. simulated model latency",
        "bfcl:matched": "turns matching the replay",
    }
    fig, axes = plt.subplots(1, len(metrics), figsize=(16, 3.8))
    for ax, (metric, title) in zip(axes, metrics.items(), strict=True):
        items = [(f["peer"], f["value"], f["detail"]) for f in rows if f["scenario"] == metric]
        colors = [OTC_COLOR if p == "code" else PEER_COLOR for p, _, _ in items]
        bars = ax.bar([p.replace("_", " ") for p, _, _ in items], [v for _, v, _ in items], color=colors)
        of = metric == "bfcl:matched"  # its detail starts with "of <turns>"
        labels = [f"{v:,.0f}" + (f" {d.split(';')[0]}" if of else "") for _, v, d in items]
        ax.bar_label(bars, labels=labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    about = data["notes"].get("bfcl", {})
    title = "BFCL v4 multi-turn base: the same ground-truth calls sent four ways"
    if about:
        title += f" ({about['used']} entries, {about['model_latency_s']:g} s simulated latency per model call)"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str]) -> int:
    if argv and argv[0].startswith("-"):
        print(__doc__)
        return 0 if argv[0] in ("-h", "--help") else 2
    path = Path(argv[0]) if argv else latest()
    if path is None or not path.is_file():
        print(f"no results in {RESULTS}: run `otc bench` (or pytest benchmarks --benchmark-enable --otc-report) first")
        return 1
    data = json.loads(path.read_text())
    m = data["machine"]
    print(comparison_table(data))
    print(LOWER_IS_BETTER)
    print(
        f"\nMeasured {data['date'][:10]} on {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}: `{data['command']}`."
    )
    print(_isolation(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
