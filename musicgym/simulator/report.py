"""Write the fidelity report of a fitted simulator: report.json, report.md and PNG plots.

The inputs are plain dicts made by `metrics`: `predictor_metrics` per predictor, `rollout_stats`
of simulated and real sessions, and optionally the synthetic-data check. Plots use matplotlib's
object API (`Figure`, rendered by Agg), so no pyplot state or display is involved.

The targets it is judged by are in `targets` (`verdicts`, `verdict_lines`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from musicgym.artifacts import atomic_path, write_json
from musicgym.data.schema import OUTCOMES
from musicgym.simulator.metrics import compare_rollouts, outcome_mix_check, skip_rate_check
from musicgym.simulator.targets import (
    MIX_TOLERANCE,
    SKIP_RATE_TOLERANCE,
    TARGET_NOTES,
    verdict_lines,
)

PREDICTOR_KEYS = ("maa", "first_prediction_accuracy", "log_loss", "auc", "ece")
PREDICTOR_ORDER = ("model", "always_skip", "repeat_last", "first_half_majority")


SYNTHETIC_NOTE = (
    "oracle_auc is the generator's true P(skip_2), which sees each session's latent taste and "
    "mood, so no model of the logs can reach it; bayes_auc is the generator's own posterior "
    "predictive given only the session so far (tracks, outcomes, context), the best a "
    "history-based model can do, and bayes_gap the fair version of auc_gap.")


DECISIONS_NOTE = (
    "A user model is useful for learning what to recommend only if its preferences between "
    "tracks hold for users it never saw. rank_agreement is the mean over held-out states of the "
    "Spearman correlation of worlds A's and B's P(listened) over the recommendable tracks "
    "(rank_agreement_topN: over the N most-played tracks; rank_agreement_static: of the mean over "
    "states, one ranking for everyone; rank_agreement_within_state: of what each state adds to "
    "it); world A pools meta's `ensemble` fits, world B is one fit or, with meta `held_out` "
    "\"as_trained\", fitted as world A; "
    "greedy_a_in_b is the listened rate in world B of the myopic best under A, most_popular_in_b "
    "what it must beat, greedy_b_in_b the judge's own optimum. greedy_a_in_b_topN is greedy-by-A "
    "choosing only among the N most-played tracks: how many tracks the data rank reliably; "
    "greedy_a_pessimistic_in_b ranks by P(listened) - 4 * 0.5 / sqrt(training plays) instead, "
    "a lower confidence bound that distrusts thinly heard tracks. On "
    "synthetic data, greedy_a_in_truth and most_popular_in_truth are judged by the generator's "
    "users: A and B can agree and share a bias (see agents/decisions.py).")


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

    `rollout` holds "sim" and "real" `rollout_stats`, and "gaps" (computed when absent); the
    noise-aware "checks" of the skip rate by position and the outcome mix are added.
    """
    for name, figures in predictors.items():
        missing = [k for k in PREDICTOR_KEYS if k not in figures]
        if missing:
            raise ValueError(f"predictor {name!r} lacks {missing}; use metrics.predictor_metrics")
    sim, real = rollout["sim"], rollout["real"]
    gaps = rollout.get("gaps") or compare_rollouts(sim, real)
    checks = {"skip_rate": skip_rate_check(sim, real, SKIP_RATE_TOLERANCE),
              "outcome_mix": outcome_mix_check(sim, real, MIX_TOLERANCE)}
    return to_jsonable({
        "predictors": {n: {k: f[k] for k in PREDICTOR_KEYS} for n, f in predictors.items()},
        "rollout": {"sim": sim, "real": real, "gaps": gaps, "checks": checks,
                    "teacher_forced_by_position": rollout.get("teacher_forced_by_position")},
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


POSITION_NOTE = (
    "sim is the free-running rollout's rate; teacher-forced is the model's mean P(skip_2) given "
    "the logged history. A gap that both show, beyond a few standard errors, is miscalibration. "
    "One that only sim shows is drift of the rollout's own sampled history, or noise of the "
    "real sessions that the teacher-forced figure partly follows through their history; more "
    "held-out sessions (`--folds`) tell the two apart.")


def _position_table(rollout: dict) -> str:
    """Skip_2 rate by position: real (rows, standard error), simulated, and teacher-forced."""
    real, sim = rollout["real"], rollout["sim"]
    forced = rollout.get("teacher_forced_by_position") or [None] * len(real["rows_by_position"])
    lines = ["| position | real sessions | real | standard error | sim | sim - real "
             "| teacher-forced |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, (rows, r, s, f) in enumerate(zip(
            real["rows_by_position"], real["skip_rate_by_position"],
            sim["skip_rate_by_position"], forced, strict=True)):
        if rows and r is not None and s is not None:
            se = math.sqrt(r * (1 - r) / rows)
            lines.append(f"| {i + 1} | {rows} | {r:.4f} | {se:.4f} | {s:.4f} | {s - r:+.4f} "
                         f"| {_fmt(f)} |")
    return "\n".join([POSITION_NOTE, "", *lines])


def _markdown(report: dict[str, Any], table: str, plots: list[str]) -> str:
    """The text of report.md."""
    parts = ["# Simulator fidelity report", "", "## Held-out skip prediction (second halves)", "",
             table, "", "## Free-running rollouts, simulated against real", "",
             _rollout_table(report["rollout"]), "", "### Skip rate by position", "",
             _position_table(report["rollout"]), "", "## Targets", "",
             *(f"- {line}" for line in verdict_lines(report)), "", *TARGET_NOTES]
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


def position_ticks(positions: int) -> np.ndarray:
    """Integer x ticks of a plot over session positions 1..`positions` (every one up to 20)."""
    step = max(1, math.ceil(positions / 20))
    return np.arange(1, positions + 1, step)


def skip_rate_figure(rollout: dict) -> Figure:
    """Skip_2 rate by position, simulated against real, with the real rates' 95% bars."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    real = np.asarray(rollout["real"]["skip_rate_by_position"], float)
    rows = np.asarray(rollout["real"]["rows_by_position"], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        bar = 1.96 * np.sqrt(real * (1 - real) / rows)
    x = np.arange(1, real.size + 1)
    ax.errorbar(x, real, yerr=bar, marker="o", capsize=3, label="real (95% interval)")
    sim = np.asarray(rollout["sim"]["skip_rate_by_position"], float)
    ax.plot(np.arange(1, sim.size + 1), sim, marker="o", label="sim")
    ax.set_xticks(position_ticks(max(real.size, sim.size)))
    ax.set(xlabel="session position", ylabel="skip_2 rate", title="Skip rate by position")
    ax.legend()
    return fig


def _plot_skip_rate(out: Path, rollout: dict) -> str:
    """Plot skip_2 rate by position, simulated against real."""
    _save(skip_rate_figure(rollout), out / "skip_rate_by_position.png")
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
                 reliability: dict | None = None, decisions: dict | None = None
                 ) -> dict[str, Any]:
    """Write report.json, report.md and the PNG plots into `out_dir`; return the report.

    The returned report is report.json's content: `headline_table(report["predictors"])` and
    `verdict_lines(report)` are what a terminal shows of it.

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
    write_json(out / "report.json", report)
    md_report = {**report, "meta": {k: v for k, v in report["meta"].items() if k != "reliability"}}
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(md_report, headline_table(report["predictors"]), plots))
    return report
