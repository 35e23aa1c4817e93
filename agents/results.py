"""Write benchmark results: results.json, results.md, results.csv and a bar plot with intervals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from agents.evaluation import METRICS  # noqa: E402
from musicgym.artifacts import atomic_path  # noqa: E402


def table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: one row per agent, mean [95% interval] per metric."""
    lines = ["| agent | " + " | ".join(METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for agent, metrics in summary.items():
        cells = [f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                 for m in (metrics[name] for name in METRICS)]
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_results(out: str | Path, summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """Write results.json (agent -> metric -> mean/ci), results.md, results.csv, results.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "results.json", json.dumps({**summary}, indent=2, sort_keys=True))
    text = table(summary)
    _write_text(out / "results.md", "# Benchmark\n\n" + text + "\n\n```json\n"
                + json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n```\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["agent", "metric", "mean", "ci_low", "ci_high"])
    for agent, metrics in summary.items():
        for name in METRICS:
            m = metrics[name]
            writer.writerow([agent, name, m["mean"], m["ci_low"], m["ci_high"]])
    _write_text(out / "results.csv", buffer.getvalue())
    _plot(out / "results.png", summary)
    return text


def _plot(path: Path, summary: dict[str, Any]) -> None:
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    names = list(summary)
    means = [summary[a]["not_skipped_rate"]["mean"] for a in names]
    low = [m - summary[a]["not_skipped_rate"]["ci_low"] for a, m in zip(names, means, strict=True)]
    high = [summary[a]["not_skipped_rate"]["ci_high"] - m for a, m in zip(names, means,
                                                                         strict=True)]
    ax.bar(names, means, yerr=[low, high], capsize=4)
    ax.set(ylabel="not-skipped rate per recommended track",
           title="Agents on held-out sessions (95% intervals over seeds)")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
