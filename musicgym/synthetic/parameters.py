"""The fixed parameters of the synthetic MSSD's ground-truth model.

Kept apart from the model so that the catalog (`musicgym.synthetic.catalog`) and the session
and skip model (`musicgym.synthetic.ground_truth`) both read them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from musicgym.data.schema import MAX_SESSION_LENGTH

_POSITION_EFFECTS = (-0.75, -0.3, -0.1, -0.03) + (0.0,) * (MAX_SESSION_LENGTH - 4)


@dataclass(frozen=True)
class GroundTruthParameters:
    """The parameters of the ground-truth model (symbols: `musicgym.synthetic.ground_truth`)."""

    popularity_exponent: float = 0.9
    popularity_offset: float = 10.0
    feature_latent_correlation: float = 0.6
    acoustic_latent_correlation: float = 0.8
    popularity_feature_correlation: float = 0.6
    n_candidates: int = 8
    charts_top_share: float = 0.002
    # beta per context, in schema.CONTEXT_TYPES order.
    taste_sharpness: tuple[float, ...] = (0.5, 2.0, 0.0, 1.0, 0.0, 1.5)
    session_effect_std: float = 0.7
    match_weight: float = -0.8
    popularity_weight: float = -0.15
    history_weight: float = 2.6
    history_decay: float = 0.3
    position_effects: tuple[float, ...] = _POSITION_EFFECTS
    # w_context per context, in schema.CONTEXT_TYPES order.
    context_effects: tuple[float, ...] = (-0.15, 0.5, -0.65, 0.32, 0.4, 0.03)
    premium_effect: float = -0.05
    shuffle_effect: float = 0.25
    hour_effect: float = 0.1
    cut_points: tuple[float, float, float] = (0.047, 0.607, 1.393)
