"""Agents for `MusicRec-v0`: SB3 policies with a history encoder, the SB3 adapter, baselines."""

from agents.baselines import (
    GreedyModelAgent,
    ItemKNNAgent,
    LoggedAgent,
    MostPopularAgent,
    RandomAgent,
)
from agents.policy import (
    MUSICBOX_HYPERPARAMETERS,
    TUNED_HYPERPARAMETERS,
    HistoryEncoder,
    RecActor,
    RecCritic,
    RecPolicy,
    RecSACPolicy,
    make_agent,
    wolpertinger_tracks,
)
from agents.track_agent import PolicyAgent, TrackAgent
from agents.vec_env import SB3VecEnv

__all__ = [
    "MUSICBOX_HYPERPARAMETERS",
    "TUNED_HYPERPARAMETERS",
    "GreedyModelAgent",
    "HistoryEncoder",
    "ItemKNNAgent",
    "LoggedAgent",
    "MostPopularAgent",
    "PolicyAgent",
    "RandomAgent",
    "RecActor",
    "RecCritic",
    "RecPolicy",
    "RecSACPolicy",
    "SB3VecEnv",
    "TrackAgent",
    "make_agent",
    "wolpertinger_tracks",
]
