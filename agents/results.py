"""Write benchmark results: results.json, results.md, results.csv and a plot, world by world.

`results.json` has the shape `{"train_world": {agent: {metric: {"mean", "ci_low", "ci_high"}}},
"held_out_world": {...}, "truth_world": {...}, "meta": {...}}` (worlds that were not judged are
absent). Intervals are 95% Student-t intervals over seeds. With one seed there is no interval:
results.json keeps `ci_low` = `ci_high` = the mean (every entry keeps one numeric shape; `meta`
says how many seeds ran), results.csv leaves both cells empty, and the tables, the plot and the
terminal show the mean alone.
"""

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
from musicgym.artifacts import atomic_path, write_text  # noqa: E402

WORLD_TITLES = {"held_out_world": "held out world: users the agent never trained on (headline)",
                "train_world": "train world: the users the agent trained in",
                "truth_world": "truth world: the generator's own users"}
"""The judging worlds, headline first."""
LEGEND = (
    "Every world replays the same held-out test sessions; cells are the mean over seeds "
    "[95% interval], the mean alone for one seed.\n"
    "- **held out world**: user models fitted on training sessions the agent never saw (half B "
    "for an agent trained in half A): its score there is the headline.\n"
    "- **train world**: the user models the agent trained in (half A by default); its lead over "
    "the held-out world is how far the world it trained in flatters it.\n"
    "- **truth world** (synthetic data only): the generator's own users, the real answer.")
"""What the world rows and columns mean, printed with every table."""


def has_interval(m: dict[str, float]) -> bool:
    """Whether a summary entry has an interval (more than one seed, and some spread)."""
    return bool(m["ci_high"] > m["ci_low"])


def cell(m: dict[str, float]) -> str:
    """A mean, with its interval when there is one: `0.706` or `0.706 [0.690, 0.722]`."""
    if not has_interval(m):
        return f"{m['mean']:.3f}"
    return f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def _worlds(summary: dict[str, Any]) -> list[str]:
    """The judged worlds of a summary, headline first; raise when there is none."""
    unknown = sorted(set(summary) - set(WORLD_TITLES) - {"meta"})
    if unknown:
        raise ValueError(f"summary: unknown worlds {unknown}; the worlds are {list(WORLD_TITLES)}")
    worlds = [w for w in WORLD_TITLES if w in summary]
    if not worlds or not summary[worlds[0]]:
        raise ValueError("summary holds no judged agent: run at least one seed (seeds must be "
                         "at least 1)")
    return worlds


def table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table of one world: one row per agent, mean [95% interval] per metric."""
    lines = ["| agent | " + " | ".join(METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for agent, metrics in summary.items():
        lines.append(f"| {agent} | " + " | ".join(cell(metrics[m]) for m in METRICS) + " |")
    return "\n".join(lines)


def worlds_table(summary: dict[str, Any], metric: str = "listened") -> str:
    """A Markdown table of one metric: one row per agent, one column per judging world."""
    worlds = _worlds(summary)
    agents = list(summary[worlds[0]])
    lines = ["| agent | " + " | ".join(w.replace("_", " ") for w in worlds) + " |",
             "|---|" + "---:|" * len(worlds)]
    for agent in agents:
        lines.append(f"| {agent} | "
                     + " | ".join(cell(summary[w][agent][metric]) for w in worlds) + " |")
    return "\n".join(lines)


def report(summary: dict[str, Any]) -> str:
    """The listened rate side by side in every world, the legend, then each world's table."""
    parts = ["## listened rate (skip_2 false) by judging world", worlds_table(summary), LEGEND]
    for world, title in WORLD_TITLES.items():
        if world in summary:
            parts += [f"## {title}", table(summary[world])]
    return "\n\n".join(parts)


def write_results(out: str | Path, summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """Write results.json, results.md, results.csv and results.png; return the Markdown."""
    worlds = _worlds(summary)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps({**summary, "meta": meta}, indent=2,
                                                 sort_keys=True, default=str))
    text = report(summary)
    write_text(out / "results.md", "# Benchmark\n\n" + text + "\n\n```json\n"
                + json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n```\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["world", "agent", "metric", "mean", "ci_low", "ci_high"])
    for world in worlds:
        for agent, metrics in summary[world].items():
            for name in METRICS:
                m = metrics[name]
                low, high = (m["ci_low"], m["ci_high"]) if has_interval(m) else ("", "")
                writer.writerow([world, agent, name, m["mean"], low, high])
    write_text(out / "results.csv", buffer.getvalue())
    _plot(out / "results.png", summary)
    return text


def _plot(path: Path, summary: dict[str, Any]) -> None:
    """Horizontal bars of the listened rate with 95% intervals, one bar per judging world."""
    worlds = _worlds(summary)
    agents = list(summary[worlds[0]])
    intervals = any(has_interval(summary[w][a]["listened"]) for w in worlds for a in agents)
    height = 0.8 / len(worlds)
    fig = Figure(figsize=(8, 0.4 * len(agents) * len(worlds) + 1.6))
    ax = fig.add_subplot()
    for j, world in enumerate(worlds):
        rates = [summary[world][a]["listened"] for a in agents]
        means = [r["mean"] for r in rates]
        # a rate lies in [0, 1]: an interval of few seeds may not, so its bar is cut there
        lows = [max(r["ci_low"], 0.0) for r in rates]
        highs = [min(r["ci_high"], 1.0) for r in rates]
        errors = [[m - low for m, low in zip(means, lows, strict=True)],
                  [high - m for m, high in zip(means, highs, strict=True)]]
        rows = [i + j * height for i in range(len(agents))]
        ax.barh(rows, means, height=height, xerr=errors if intervals else None, capsize=2,
                label=world.replace("_", " "))
        for row, mean, high in zip(rows, means, highs, strict=True):
            ax.text(max(mean, high) + 0.01, row, f"{mean:.3f}", va="center", fontsize=7)
    ax.set_yticks([i + height * (len(worlds) - 1) / 2 for i in range(len(agents))], agents)
    ax.invert_yaxis()
    ax.set(xlabel="listened rate per recommended track (skip_2 false)", xlim=(0, 1.1),
           title="Agents on held-out test sessions, by judging world"
           + (" (95% intervals)" if intervals else ""))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07 - 0.6 / fig.get_figheight()),
              ncol=len(worlds), fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
