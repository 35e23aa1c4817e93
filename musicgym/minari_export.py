"""Write `MusicRec-v0` episodes (logged sessions, or an agent's) as a Minari dataset.

Minari 0.5 (the optional extra `minari`: `pip install -e ".[minari]"`) builds the dataset from
episode buffers with `minari.create_dataset_from_buffers`, in its "arrow" format (pyarrow is
already a dependency of musicgym); neither its DataCollector nor jax is needed.

- The dataset goes to `out/ID` when `out` is given, else where Minari keeps datasets
  (`$MINARI_DATASETS_PATH`, else `~/.minari/datasets`): `minari.load_dataset(ID)` loads it
  there (with `out`, set `MINARI_DATASETS_PATH=out` first, or open
  `minari.MinariDataset(out/ID/data)`).
- Its env spec is `MusicRec-v0` with the episodes' env arguments (paths as text), so
  `dataset.recover_environment()` makes the env the episodes are episodes of; its eval env
  spec is the held-out world that `musicgym benchmark` judges in: for episodes of world A
  (or B), world B (or A) with A's catalog on the test sessions, penalties off.
- Infos, one row per observation (row 0 is the reset): `tracks` (ids played at each step,
  "" at reset), `outcomes` (codes, -1 at reset), `recommendable` and `session_idx` (the
  logged session, -1 when unknown).
- An existing dataset is never replaced: the id is refused (pick the next version, `-v1`).
  The dataset is written in a temporary folder beside its target and renamed into place.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from musicgym.artifacts import atomic_dir, jsonable
from musicgym.envs import ENV_ID
from musicgym.envs.config import EnvConfig
from musicgym.envs.judging import judging_configs
from musicgym.logged_episodes import Episodes, text_paths

MINARI_INSTALL = 'pip install -e ".[minari]"'
DATASET_ID = re.compile(r"^(?:(?P<namespace>[-\w]+(?:/[-\w]+)*)/)?(?P<name>[-\w]+?)"
                        r"-v(?P<version>\d+)$")
"""Minari's `(namespace/)name-vN`, with the version required (a dataset is never replaced)."""
DATA_FORMAT = "arrow"


class DatasetIdError(ValueError):
    """A Minari dataset id is malformed or already taken; the message says the fix."""


def import_minari() -> Any:
    """The minari module, or an error naming the extra that installs it."""
    try:
        import minari
    except ImportError:
        raise ImportError(f"writing a Minari dataset needs the minari package: run "
                          f"{MINARI_INSTALL} in the repository (or pip install "
                          f"'minari>=0.5.4,<0.6')") from None
    return minari


def datasets_root(out: str | Path | None = None) -> Path:
    """Where datasets go: `out`, else `$MINARI_DATASETS_PATH`, else `~/.minari/datasets`."""
    if out is not None:
        return Path(out)
    chosen = os.environ.get("MINARI_DATASETS_PATH")
    return Path(chosen) if chosen else Path.home() / ".minari" / "datasets"


def dataset_target(dataset_id: Any, out: str | Path | None = None) -> Path:
    """The folder `dataset_id` would be written to; raise unless the id is valid and free.

    Checked before any work: the id's form, that `out` is not a file, that no dataset (or
    anything else) holds the target folder already.
    """
    if not isinstance(dataset_id, str) or not DATASET_ID.match(dataset_id):
        raise DatasetIdError(f"dataset id {dataset_id!r} is not of the form NAMESPACE/NAME-vN "
                             "(letters, digits, '-' and '_'; e.g. musicgym/mssd-train-v0)")
    root = datasets_root(out)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; pass a folder for the datasets")
    target = root / dataset_id
    if target.exists():
        match = DATASET_ID.match(dataset_id)
        stem = dataset_id[: match.start("version") - 2]
        raise FileExistsError(f"{target} exists: a dataset {dataset_id} is already there and "
                              f"is never replaced; pass another id, e.g. {stem}-v"
                              f"{int(match['version']) + 1}")
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"{parent} is a file; the dataset {dataset_id} needs a "
                                     "folder there")
    return target


def env_spec(config: EnvConfig) -> Any:
    """`MusicRec-v0`'s registered spec with the env arguments of `config` (JSON-ready).

    Data paths become absolute, so the dataset recovers its env from any working folder.
    """
    import gymnasium as gym

    paths = {name: str(Path(getattr(config, name)).resolve())
             for name in ("data", "test_data") if getattr(config, name) is not None}
    kwargs = jsonable(asdict(replace(config, **paths)))
    return dataclasses.replace(gym.spec(ENV_ID), kwargs=kwargs)


def held_out_config(config: EnvConfig) -> EnvConfig:
    """The env that judges an agent trained with `config`, as `musicgym benchmark` does.

    The other half's world with the agent's catalog on the test sessions (for world "all":
    the same world on the test sessions), one fit, penalties off (`judging_configs`).
    """
    configs = judging_configs(config, truth=False)
    return configs.get("held_out_world", configs["train_world"])


@contextmanager
def _datasets_path(root: Path) -> Iterator[None]:
    """Point Minari at `root` inside the block (it reads only the environment variable)."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def episode_buffers(episodes: Episodes, catalog_ids: np.ndarray) -> list[Any]:
    """Minari `EpisodeBuffer`s of the episodes (ids `catalog_ids[row]` in the infos)."""
    from minari.data_collector import EpisodeBuffer

    ids = np.asarray(catalog_ids, dtype=object)
    buffers = []
    for i in range(len(episodes)):
        e = episodes.episode(i)
        t, k = e["tracks"].shape
        names = np.where(e["tracks"] >= 0, ids[np.maximum(e["tracks"], 0)], "")
        infos = {"tracks": [[""] * k, *map(list, names)],
                 "outcomes": np.vstack([np.full((1, k), -1), e["outcomes"]]).astype(np.int64),
                 # 1-d columns as lists: Minari 0.5.4 cannot read back 1-d numpy infos
                 "recommendable": [True, *map(bool, e["recommendable"])],
                 "session_idx": [int(episodes.session_idx[i])] * (t + 1)}
        buffers.append(EpisodeBuffer(
            id=i, observations=e["observations"], actions=e["actions"],
            rewards=list(e["rewards"]), terminations=[False] * t,
            truncations=[False] * (t - 1) + [True], infos=infos))
    return buffers


def export_minari(episodes: Episodes, dataset_id: str, out: str | Path | None = None,
                  algorithm_name: str = "logged sessions",
                  description: str | None = None) -> Path:
    """Write `episodes` as the Minari dataset `dataset_id`; return its folder.

    :param episodes: logged episodes (`logged_episodes`) or an agent's (`record_episodes`)
    :param dataset_id: `namespace/name-vN`, not yet taken in the datasets folder
    :param out: the datasets folder (default: Minari's, see `datasets_root`)
    :param algorithm_name: who chose the actions, recorded in the dataset's metadata
    :param description: the dataset's description (default: one saying what it holds)
    """
    minari = import_minari()
    target = dataset_target(dataset_id, out)
    from musicgym.envs.bundle import load_bundle

    config = text_paths(episodes.config)
    bundle = load_bundle(config)
    if bundle.catalog.checksum != episodes.catalog_checksum:
        raise ValueError("the episodes were built with another catalog than their config's "
                         "env has now (the data changed): build them again")
    description = description or (
        f"{len(episodes)} episodes of {ENV_ID} ({episodes.steps} steps): {algorithm_name}, "
        f"sessions '{config.sessions}' of world {config.world}'s catalog")
    buffers = episode_buffers(episodes, bundle.catalog.track_ids)
    namespace = DATASET_ID.match(dataset_id)["namespace"]
    with atomic_dir(target, overwrite=False) as tmp:
        scratch = tmp / "minari-root"
        with _datasets_path(scratch), warnings.catch_warnings():
            # Minari warns about each optional field left empty (no e-mail, no permalink)
            warnings.filterwarnings("ignore", message=".*is set to None", category=UserWarning)
            dataset = minari.create_dataset_from_buffers(
                dataset_id, buffers[:1], env=env_spec(config),
                eval_env=env_spec(held_out_config(config)), algorithm_name=algorithm_name,
                author="musicgym", description=description, data_format=DATA_FORMAT,
                requirements=["musicgym"])
            _append_episodes(dataset.storage, buffers[1:])
        for child in (scratch / dataset_id).iterdir():
            child.rename(tmp / child.name)
        shutil.rmtree(scratch)
        if namespace:
            _ensure_namespace(datasets_root(out), namespace)
    return target


def _append_episodes(storage: Any, buffers: list[Any]) -> None:
    """Add episodes to a new Minari storage, measuring the dataset's size once at the end.

    Minari 0.5.4 re-measures the whole folder after each episode it adds (quadratic: 8 of
    the 10 minutes the real sample's 1,900 episodes took); the instance's `get_size` is
    stubbed while they are added, then the real size is recorded.
    """
    storage.get_size = lambda: 0.0
    try:
        storage.update_episodes(buffers)
    finally:
        del storage.get_size
    storage.update_metadata({"dataset_size": storage.get_size()})


def _ensure_namespace(root: Path, namespace: str) -> None:
    """Give the namespace its metadata file in `root`, as Minari's own datasets have."""
    from minari.namespace import create_namespace, list_local_namespaces

    with _datasets_path(root):
        if namespace not in list_local_namespaces():
            create_namespace(namespace, description="musicgym episodes")


def record_episodes(config: EnvConfig, act: Callable[[np.ndarray], np.ndarray], episodes: int,
                    seed: int = 0) -> Episodes:
    """`episodes` episodes of the env `config` makes, with `act` choosing each action.

    :param act: observation [size] -> action [slate_size * dim] (a trained policy)
    :param seed: seed of the first reset (the later ones continue its generator)
    """
    from musicgym.envs.music_rec import MusicRecEnv

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes ({episodes!r}) must be an integer of at least 1")
    env = MusicRecEnv(**asdict(text_paths(config)))
    catalog = env.bundle.catalog
    recommendable = set(catalog.recommendable.tolist())
    steps: dict[str, list] = {k: [] for k in ("obs", "actions", "rewards", "tracks",
                                              "outcomes", "recommendable")}
    lengths = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed if i == 0 else None)
        steps["obs"].append(obs)
        done, n = False, 0
        while not done:
            action = np.asarray(act(obs), np.float32)
            obs, reward, _, done, info = env.step(action)
            played = catalog.rows(np.asarray(info["tracks"], dtype=object))
            rows = np.where(info["played"], played, -1)
            steps["obs"].append(obs)
            steps["actions"].append(np.clip(action, -1.0, 1.0))
            steps["rewards"].append(reward)
            steps["tracks"].append(rows)
            steps["outcomes"].append(np.asarray(info["outcomes"], np.int64))
            steps["recommendable"].append(all(r in recommendable for r in rows if r >= 0))
            n += 1
        lengths.append(n)
    return Episodes(observations=np.asarray(steps["obs"], np.float32),
                    actions=np.asarray(steps["actions"], np.float32),
                    rewards=np.asarray(steps["rewards"], np.float64),
                    tracks=np.asarray(steps["tracks"], np.int64),
                    outcomes=np.asarray(steps["outcomes"], np.int64),
                    recommendable=np.asarray(steps["recommendable"], bool),
                    starts=np.concatenate([[0], np.cumsum(lengths)]),
                    session_idx=np.full(episodes, -1, np.int64), config=text_paths(config),
                    catalog_checksum=catalog.checksum)
