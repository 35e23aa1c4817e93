"""What an env is made of, built once per process for each config.

`load_bundle` puts together, from the layers below: the prepared data (cached on disk), the
agent-facing `Catalog` fitted on the training sessions the agent may learn from (cached), its
decoder, the `World` that judges (fitted user models, cached; or the generator's own users on
synthetic data), and the sampler of logged sessions that start episodes. It is memoised, so a
second `gym.make` with the same arguments in the same process costs nothing. What has to be
fitted or generated first says so on stderr (one line, with where it is cached and how long it
took); what the cache already holds loads silently.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from musicgym.data.dataset import PreparedDataset
from musicgym.datasets import load_dataset
from musicgym.embeddings.catalog import Catalog, CatalogSpec, load_or_fit_catalog
from musicgym.envs.config import EnvConfig
from musicgym.envs.decoder import ActionDecoder, IndexSpec
from musicgym.simulator.fitting import SimulatorConfig
from musicgym.simulator.sampler import SessionSampler
from musicgym.simulator.user_model import World
from musicgym.simulator.worlds import member_configs, world_of, world_split
from musicgym.threads import fit_threads

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


def make_world(dataset: PreparedDataset, config: EnvConfig) -> World:
    """The world of `config`: fitted user models, or the generator's users for "truth"."""
    if config.world == "truth":
        from musicgym.simulator.truth_world import truth_world

        return truth_world(dataset)
    # a cold fit shows its epochs on a progress bar (stderr); a cached world shows nothing
    return world_of(dataset, world_members(config), progress=True)


def world_members(config: EnvConfig) -> list[SimulatorConfig]:
    """The fits of the world of `config` (a fitted one, not "truth").

    The one place that reads a world's options (half, ensemble, seed, resample, history_match)
    from an env config: the env's world and the benchmark's cache keys both come from it.
    """
    return member_configs(config.world, config.ensemble, config.simulator_seed,
                          config.ensemble_resample, config.history_match)


def make_sampler(dataset: PreparedDataset, catalog: Catalog,
                 config: EnvConfig) -> SessionSampler:
    """Logged sessions that start episodes.

    Training episodes start from the catalog's training sessions, evaluation episodes from a
    held-out split, or from every session of `test_data` (its tracks mapped into the catalog by
    id) when it is given.
    """
    if config.test_data is not None:
        test = load_dataset(config.test_data)
        return SessionSampler.from_dataset(test, None, None, config.history_fraction,
                                           track_rows=catalog.rows(test.track_ids))
    spec = world_split(config.catalog_sessions)
    return SessionSampler.from_dataset(dataset, config.sessions, spec, config.history_fraction)


@functools.lru_cache(maxsize=8)
def load_bundle(config: EnvConfig) -> SimulatorBundle:
    """Build (once per process) the parts of an env for `config`."""
    with fit_threads():  # the same numbers whatever the caller's BLAS thread count
        return _build_bundle(config)


def _build_bundle(config: EnvConfig) -> SimulatorBundle:
    """The parts of an env for `config`, built on the caller's threads."""
    dataset = load_dataset(config.data)
    catalog = load_or_fit_catalog(dataset, world_split(config.catalog_sessions),
                                  CatalogSpec(min_plays=config.min_plays))
    found = len(catalog.recommendable)
    if found < config.slate_size + SPARE_TRACKS:
        raise ValueError(f"slate_size ({config.slate_size}) plus {SPARE_TRACKS} spare tracks "
                         f"exceeds the {found} recommendable tracks (those with at least "
                         f"min_plays={config.min_plays} training plays); lower slate_size or "
                         "min_plays, or use a larger log")
    return SimulatorBundle(make_world(dataset, config), catalog,
                           _decoder(catalog, config.decoding, IndexSpec.of(config)),
                           make_sampler(dataset, catalog, config))


_DECODERS: dict[tuple[str, str, IndexSpec], ActionDecoder] = {}


def _decoder(catalog: Catalog, decoding: str, index: IndexSpec) -> ActionDecoder:
    """The process's one decoder per (catalog, decoding, index).

    The bundles of the train, validation and judging envs share it: a faiss index is built once.
    """
    key = (catalog.checksum, decoding, index)
    if key not in _DECODERS:
        if len(_DECODERS) >= 8:
            _DECODERS.pop(next(iter(_DECODERS)))
        _DECODERS[key] = ActionDecoder.for_catalog(catalog, decoding, index)
    return _DECODERS[key]
