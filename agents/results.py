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


ROBUSTNESS_LABELS = {"agent_sim_a": "agent, own half-data simulator",
                     "agent_sim_b": "agent, other half's simulator",
                     "most_popular_sim_b": "most_popular, other half's simulator",
                     "greedy_model_sim_b": "greedy_model, other half's simulator"}
"""Plot labels of the robustness rows (`training.robustness_run`)."""


def _plot(path: Path, summary: dict[str, Any]) -> None:
    """Horizontal bars of the listened rate with 95% intervals; robustness rows in grey."""
    names = list(summary)
    rates = [summary[a]["listened"] for a in names]
    means = [r["mean"] for r in rates]
    errors = [[m - r["ci_low"] for m, r in zip(means, rates, strict=True)],
              [r["ci_high"] - m for m, r in zip(means, rates, strict=True)]]
    colors = ["tab:grey" if a in ROBUSTNESS_LABELS else "tab:blue" for a in names]
    fig = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    ax = fig.add_subplot()
    ax.barh(range(len(names)), means, xerr=errors, capsize=3, color=colors)
    ax.set_yticks(range(len(names)), [ROBUSTNESS_LABELS.get(a, a) for a in names])
    ax.invert_yaxis()
    for row, (mean, high) in enumerate(zip(means, errors[1], strict=True)):
        ax.text(mean + high + 0.01, row, f"{mean:.3f}", va="center", fontsize=8)
    ax.set(xlabel="listened rate per recommended track (skip_2 false)", xlim=(0, 1.08),
           title="Agents on held-out sessions (95% intervals over seeds)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
