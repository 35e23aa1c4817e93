"""Cloning a recommender's choices: cross-entropy of a track under "dot" decoding.

The env decodes a unit proto-vector to the recommendable track with the highest dot product, so
teaching an actor to play a given track is a classification over the recommendable tracks.
`bc_logged` and `td3bc_logged` (`agents.offline`) clone the logged tracks with it; the online
algorithms' greedy teacher (`agents.algorithms`) clones the training world's best tracks.
"""

from __future__ import annotations

import math

import numpy as np
import torch as th
from torch import nn

from musicgym.embeddings.catalog import Catalog


class CloningLoss(nn.Module):
    """Cross-entropy of the logged track under softmax(s * <proto, recommendable vectors>)."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.register_buffer("vectors", th.as_tensor(catalog.vectors[catalog.recommendable]))
        self.recommendable = catalog.recommendable
        self.log_scale = nn.Parameter(th.tensor(math.log(10.0)))

    def targets(self, tracks: np.ndarray) -> th.Tensor:
        """Index among the recommendable tracks of each (recommendable) catalog row."""
        return th.as_tensor(np.searchsorted(self.recommendable, tracks))

    def logits(self, protos: th.Tensor) -> th.Tensor:
        """Scores [B, recommendable] of unit proto-vectors [B, dim]."""
        return self.log_scale.exp() * protos @ self.vectors.T

    def forward(self, protos: th.Tensor, targets: th.Tensor) -> th.Tensor:
        """Mean cross-entropy of `targets` (indices among the recommendable tracks)."""
        return nn.functional.cross_entropy(self.logits(protos), targets)
