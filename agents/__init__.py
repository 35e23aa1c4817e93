"""Agents for `MusicRec-v0`: SB3 policies with a history encoder, and baseline recommenders."""

from agents.baselines import (
    DDPGTrackAgent,
    GreedyModelAgent,
    ItemKNNAgent,
    LoggedAgent,
    MostPopularAgent,
    RandomAgent,
    TrackAgent,
)
from agents.policy import (
    SEED_HYPERPARAMETERS,
    TUNED_HYPERPARAMETERS,
    HistoryEncoder,
    RecActor,
    RecCritic,
    RecPolicy,
    RecSACPolicy,
    make_agent,
    wolpertinger_tracks,
)

__all__ = [
    "SEED_HYPERPARAMETERS",
    "TUNED_HYPERPARAMETERS",
    "DDPGTrackAgent",
    "GreedyModelAgent",
    "HistoryEncoder",
    "ItemKNNAgent",
    "LoggedAgent",
    "MostPopularAgent",
    "RandomAgent",
    "RecActor",
    "RecCritic",
    "RecPolicy",
    "RecSACPolicy",
    "TrackAgent",
    "make_agent",
    "wolpertinger_tracks",
]
