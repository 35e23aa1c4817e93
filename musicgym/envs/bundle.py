"""What an env is made of, built once per process for each config.

`load_bundle` puts together, from the layers below: the prepared data (cached on disk), the
fitted simulator (cached on disk) as a `World`, the agent-facing `Catalog` with its decoder,
and the sampler of logged sessions that start episodes. It is memoised, so a second `gym.make`
with the same arguments in the same process costs nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from musicgym.data.splits import SplitSpec
from musicgym.datasets import load_dataset
from musicgym.embeddings.catalog import Catalog
from musicgym.envs.config import EnvConfig
from musicgym.envs.decoder import ActionDecoder
from musicgym.simulator.fitting import SimulatorConfig, load_or_fit
from musicgym.simulator.numpy_response import NumpyResponse
from musicgym.simulator.response_net import ResponseConfig
from musicgym.simulator.sampler import SessionSampler
from musicgym.simulator.user_model import World

SPARE_TRACKS = 20
"""Recommendable tracks a catalog needs beyond one slate, so sessions never run out."""


@dataclass(frozen=True)
class SimulatorBundle:
    """The parts an env steps on: who responds, what can be recommended, where sessions start.

    Catalog rows are the prepared dataset's `track_idx`, as in the sampler's sessions; the
    world maps them to its own rows by track id.
    """

    world: World
    catalog: Catalog
    decoder: ActionDecoder
    """Decodes proto-vectors to recommendable catalog rows."""
    sampler: SessionSampler


def simulator_config(config: EnvConfig) -> SimulatorConfig:
    """How the env's simulator is fitted: its seed and the training sessions it may read."""
    return SimulatorConfig(response=ResponseConfig(seed=config.simulator_seed),
                           split=SplitSpec(train_half=config.simulator_half))


@functools.lru_cache(maxsize=8)
def load_bundle(config: EnvConfig) -> SimulatorBundle:
    """Build (once per process) the parts of an env for `config`."""
    dataset = load_dataset(config.data)
    sim_config = simulator_config(config)
    simulator = load_or_fit(dataset, sim_config, progress=False)
    world = World(NumpyResponse(simulator.response), simulator.embeddings.ids)
    catalog = Catalog.from_embeddings(simulator.embeddings, simulator.response.stats.plays,
                                      config.min_plays)
    found = len(catalog.recommendable)
    if found < config.slate_size + SPARE_TRACKS:
        raise ValueError(f"only {found} tracks have at least min_plays={config.min_plays} "
                         f"training plays, and slate_size={config.slate_size} needs "
                         f"{config.slate_size + SPARE_TRACKS}; lower min_plays or slate_size, "
                         "or use a larger log")
    sampler = SessionSampler.from_dataset(dataset, config.sessions, sim_config.split,
                                          config.history_fraction)
    return SimulatorBundle(world, catalog, ActionDecoder.for_catalog(catalog, config.decoding),
                           sampler)
