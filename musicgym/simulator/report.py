"""Write the fidelity report of a fitted simulator: report.json, report.md and PNG plots.

The inputs are plain dicts made by `metrics`: `predictor_metrics` per predictor, `rollout_stats`
of simulated and real sessions, and optionally the synthetic-data check. Plots use matplotlib's
object API (`Figure`, rendered by Agg), so no pyplot state or display is involved.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from musicgym.artifacts import atomic_path, write_json
from musicgym.data.schema import OUTCOMES
from musicgym.simulator.metrics import compare_rollouts

PREDICTOR_KEYS = ("maa", "first_prediction_accuracy", "log_loss", "auc", "ece")
PREDICTOR_ORDER = ("model", "always_skip", "repeat_last", "first_half_majority")


@dataclass(frozen=True)
class Target:
    """One pass/fail line of the report: a figure found by `path` compared with a threshold."""

    name: str
    path: tuple[str, ...]
    op: str
    threshold: float

    def check(self, report: dict[str, Any]) -> tuple[float | None, bool | None]:
        """The figure and whether it meets the target (None, None when the figure is absent)."""
        value: Any = report
        for key in self.path:
            if not isinstance(value, dict) or value.get(key) is None:
                return None, None
            value = value[key]
        compare: Callable[[float, float], bool] = {"<=": operator.le, ">=": operator.ge}[self.op]
        return float(value), bool(compare(float(value), self.threshold))


TARGETS = (
    Target("model MAA", ("predictors", "model", "maa"), ">=", 0.56),
    Target("model first-prediction accuracy",
           ("predictors", "model", "first_prediction_accuracy"), ">=", 0.75),
    Target("model ECE, teacher-forced", ("meta", "teacher_forced", "ece"), "<=", 0.03),
    Target("max skip-rate gap by position", ("rollout", "gaps", "max_skip_rate_gap"), "<=", 0.03),
    Target("max outcome-mix gap", ("rollout", "gaps", "max_mix_gap"), "<=", 0.02),
    Target("synthetic AUC gap", ("synthetic", "auc_gap"), "<=", 0.02),
    Target("synthetic AUC gap to the observable Bayes reference", ("synthetic", "bayes_gap"),
           "<=", 0.02),
    Target("decisions: rank agreement of worlds A and B", ("decisions", "rank_agreement"),
           ">=", 0.6),
    Target("decisions: greedy-by-A minus most-popular, judged in world B",
           ("decisions", "greedy_a_minus_most_popular"), ">=", 0.0),
)
"""What a simulator must reach to be called faithful; a target whose figure is absent is skipped."""


SYNTHETIC_NOTE = (
    "oracle_auc is the generator's true P(skip_2), which sees each session's latent taste and "
    "mood, so no model of the logs can reach it; bayes_auc is the generator's own posterior "
    "predictive given only the session so far (tracks, outcomes, context), the best a "
    "history-based model can do, and bayes_gap the fair version of auc_gap.")


DECISIONS_NOTE = (
    "A user model is useful for learning what to recommend only if its preferences between "
    "tracks hold for users it never saw. rank_agreement is the mean over held-out states of the "
    "Spearman correlation of worlds A's and B's P(listened) over the recommendable tracks; "
    "greedy_a_in_b is the listened rate in world B of the myopic best under A, most_popular_in_b "
    "what it must beat, greedy_b_in_b the judge's own optimum (see agents/decisions.py).")


def to_jsonable(value: Any) -> Any:
    """`value` with numpy types made Python ones and NaN or infinity made None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _synthetic_section(synthetic: dict | None) -> dict | None:
    """The synthetic check with "auc_gap" and "bayes_gap" (reference - model AUC) filled in."""
    if synthetic is None:
        return None
    out = dict(synthetic)
    for gap, reference in (("auc_gap", "oracle_auc"), ("bayes_gap", "bayes_auc")):
        if gap not in out and out.get("auc") is not None and out.get(reference) is not None:
            out[gap] = float(out[reference]) - float(out["auc"])
    return out


def build_report(predictors: dict[str, dict], rollout: dict, synthetic: dict | None,
                 meta: dict, decisions: dict | None = None) -> dict[str, Any]:
    """The JSON-ready content of report.json (predictors, rollout, synthetic, decisions, meta).

    `rollout` holds "sim" and "real" `rollout_stats`, and "gaps" (computed when absent).
    """
    for name, figures in predictors.items():
        missing = [k for k in PREDICTOR_KEYS if k not in figures]
        if missing:
            raise ValueError(f"predictor {name!r} lacks {missing}; use metrics.predictor_metrics")
    gaps = rollout.get("gaps") or compare_rollouts(rollout["sim"], rollout["real"])
    return to_jsonable({
        "predictors": {n: {k: f[k] for k in PREDICTOR_KEYS} for n, f in predictors.items()},
        "rollout": {"sim": rollout["sim"], "real": rollout["real"], "gaps": gaps},
        "synthetic": _synthetic_section(synthetic),
        "decisions": _decisions_section(decisions),
        "meta": meta,
    })


def _decisions_section(decisions: dict | None) -> dict | None:
    """The decision-fidelity figures, with greedy-by-A's margin over most-popular in world B."""
    if decisions is None:
        return None
    margin = decisions["greedy_a_in_b"] - decisions["most_popular_in_b"]
    return {**decisions, "greedy_a_minus_most_popular": margin}


def _fmt(value: Any) -> str:
    """A figure as report text: 4 decimals, "n/a" for missing."""
    return "n/a" if value is None else f"{value:.4f}"


def headline_table(predictors: dict[str, dict]) -> str:
    """The predictors' figures as a Markdown table, the model first, then the references."""
    names = [n for n in PREDICTOR_ORDER if n in predictors]
    names += sorted(n for n in predictors if n not in PREDICTOR_ORDER)
    lines = ["| predictor | " + " | ".join(PREDICTOR_KEYS) + " |",
             "|---|" + "---:|" * len(PREDICTOR_KEYS)]
    for name in names:
        lines.append(f"| {name} | "
                     + " | ".join(_fmt(predictors[name].get(k)) for k in PREDICTOR_KEYS) + " |")
    return "\n".join(lines)


def _rollout_table(rollout: dict) -> str:
    """Simulated against real rollout statistics, one Markdown row per statistic."""
    sim, real = rollout["sim"], rollout["real"]
    rows = [(k, sim[k], real[k]) for k in
            ("p_skip_after_skip", "p_skip_after_listen", "mean_skips_per_session")]
    rows += [(f"share {k}", sim["outcome_mix"][k], real["outcome_mix"][k]) for k in OUTCOMES]
    lines = ["| statistic | sim | real |", "|---|---:|---:|"]
    lines += [f"| {k} | {_fmt(s)} | {_fmt(r)} |" for k, s, r in rows]
    lines += ["", "| gap | value |", "|---|---:|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rollout["gaps"].items()]
    return "\n".join(lines)


def _target_lines(report: dict[str, Any]) -> list[str]:
    """One "PASS"/"FAIL"/"n/a" line per target."""
    lines = []
    for target in TARGETS:
        value, ok = target.check(report)
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"- {verdict}: {target.name} = {_fmt(value)} "
                     f"(target {target.op} {target.threshold})")
    return lines


def _markdown(report: dict[str, Any], table: str, plots: list[str]) -> str:
    """The text of report.md."""
    parts = ["# Simulator fidelity report", "", "## Held-out skip prediction (second halves)", "",
             table, "", "## Free-running rollouts, simulated against real", "",
             _rollout_table(report["rollout"]), "", "## Targets", "", *_target_lines(report)]
    if report["synthetic"] is not None:
        parts += ["", "## Synthetic data (known ground truth)", "", SYNTHETIC_NOTE, ""]
        parts += [f"- {k}: {_fmt(v) if isinstance(v, float) else v}"
                  for k, v in report["synthetic"].items()]
    if report.get("decisions") is not None:
        parts += ["", "## Decision fidelity (worlds A and B, fitted on disjoint halves)", "",
                  DECISIONS_NOTE, ""]
        parts += [f"- {k}: {_fmt(v)}" for k, v in report["decisions"].items()]
    parts += ["", "## Plots", "", *(f"![{p}]({p})" for p in plots)]
    if report["meta"]:
        parts += ["", "## Run", "", *(f"- {k}: {v}" for k, v in report["meta"].items())]
    return "\n".join(parts) + "\n"


def _save(fig: Figure, path: Path) -> None:
    """Render `fig` to a PNG at `path`, atomically."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _plot_skip_rate(out: Path, rollout: dict) -> str:
    """Plot skip_2 rate by position, simulated against real."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label in ("real", "sim"):
        rate = np.asarray(rollout[label]["skip_rate_by_position"], float)
        ax.plot(np.arange(1, rate.size + 1), rate, marker="o", label=label)
    ax.set(xlabel="session position", ylabel="skip_2 rate", title="Skip rate by position")
    ax.legend()
    _save(fig, out / "skip_rate_by_position.png")
    return "skip_rate_by_position.png"


def _plot_reliability(out: Path, reliability: dict) -> str:
    """Plot a reliability diagram: observed skip rate against mean prediction per bin."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    ax.plot(reliability["mean_predicted"], reliability["observed"], marker="o", label="model")
    ax.set(xlabel="mean predicted P(skip_2)", ylabel="observed skip_2 rate",
           title="Reliability diagram", xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    _save(fig, out / "reliability.png")
    return "reliability.png"


def _plot_mix(out: Path, rollout: dict) -> str:
    """Plot the four-outcome mix as side-by-side bars, simulated against real."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    x = np.arange(len(OUTCOMES))
    for shift, label in ((-0.2, "real"), (0.2, "sim")):
        ax.bar(x + shift, [rollout[label]["outcome_mix"][k] for k in OUTCOMES], 0.4, label=label)
    ax.set_xticks(x, OUTCOMES)
    ax.set(ylabel="share of rows", title="Outcome mix")
    ax.legend()
    _save(fig, out / "outcome_mix.png")
    return "outcome_mix.png"


def _plot_skips_per_session(out: Path, rollout: dict) -> str:
    """Plot the distribution of skips per session, simulated against real."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for shift, label in ((-0.2, "real"), (0.2, "sim")):
        dist = np.asarray(rollout[label]["skips_per_session"], float)
        ax.bar(np.arange(dist.size) + shift, dist, 0.4, label=label)
    ax.set(xlabel="skip_2 count in the session", ylabel="share of sessions",
           title="Skips per session")
    ax.legend()
    _save(fig, out / "skips_per_session.png")
    return "skips_per_session.png"


def write_report(out_dir: str | Path, predictors: dict[str, dict], rollout: dict,
                 synthetic: dict | None, meta: dict, *,
                 reliability: dict | None = None, decisions: dict | None = None) -> str:
    """Write report.json, report.md and the PNG plots into `out_dir`; return the headline table.

    `predictors` maps a name ("model", "always_skip", "repeat_last", "first_half_majority", ...)
    to `metrics.predictor_metrics`; `rollout` holds "sim" and "real" `metrics.rollout_stats` (and
    optionally their "gaps"); `synthetic` holds the ground-truth check on synthetic data
    ("auc_gap", or "auc" and "oracle_auc"; optionally "bayes_auc", giving "bayes_gap"; plus
    e.g. "correlation") or None; `meta` is free-form.
    `reliability` (`metrics.reliability_diagram` of the model) adds the reliability plot and is
    kept in report.json under meta["reliability"]. `decisions` (`agents.decisions`) adds the
    decision-fidelity section.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if reliability is not None:
        meta = {**meta, "reliability": reliability}
    report = build_report(predictors, rollout, synthetic, meta, decisions)
    full_rollout = {**rollout, "gaps": report["rollout"]["gaps"]}
    plots = [_plot_skip_rate(out, full_rollout), _plot_mix(out, full_rollout),
             _plot_skips_per_session(out, full_rollout)]
    if reliability is not None:
        plots.append(_plot_reliability(out, reliability))
    table = headline_table(report["predictors"])
    write_json(out / "report.json", report)
    md_report = {**report, "meta": {k: v for k, v in report["meta"].items() if k != "reliability"}}
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(md_report, table, plots))
    return table
