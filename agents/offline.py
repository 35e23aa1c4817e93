"""Agents learned from logged sessions alone: behaviour cloning and TD3+BC, with our networks.

Both learn from the logged episodes of the sessions an online agent may train on (world A's
training sessions by default): a Minari dataset written by `musicgym minari`, or the same
arrays built in memory (`musicgym.logged_episodes.logged_episodes`). Each returns a `RecPolicy`
(`agents/policy.py`: the GRU history encoder, the unit-vector actor and, for TD3+BC, the
bilinear critic) made for the episodes' catalog, which `benchmark_run` judges like any other
SB3 policy.

- `bc_logged`: behaviour cloning. The env decodes a proto-vector to the recommendable track
  with the highest dot product, so cloning the logged choice is a classification over the
  recommendable tracks: softmax of s * <proto, track vector> (s, a learned scale), cross-entropy
  with the logged track. Steps whose logged track is not recommendable are left out (no action
  of the agent can play it).
- `td3bc_logged`: TD3+BC (Fujimoto and Gu, 2021): the critic learns Q from the logged
  transitions (bootstrap target: the target actor's decoded track, as online); the actor
  maximises α Q / mean|Q| minus the cloning loss above, every second step.

Training is bounded by `epochs` passes over the logged steps, on `torch_threads` threads, and
seeded: one seed gives the same policy (batches come from one numpy generator, the networks'
initialisation and nothing else from torch's, forked so the caller's torch state is untouched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from torch import nn

from agents.cloning import CloningLoss
from agents.policy import RecPolicy
from musicgym.embeddings.catalog import Catalog
from musicgym.envs.bundle import load_bundle
from musicgym.envs.observation import ObservationLayout
from musicgym.logged_episodes import Episodes
from musicgym.threads import training_numerics

OFFLINE_AGENTS = ("bc_logged", "td3bc_logged")
"""The offline agents the benchmark trains beside the online one."""
BENCHMARK_EPOCHS = 20
"""Epochs of each offline agent in `musicgym benchmark` (on the real sample's 15,000 logged
steps of world A: about 30 s for bc_logged and 2 to 4 min for td3bc_logged on a busy core)."""


@dataclass(frozen=True)
class OfflineConfig:
    """How the offline agents train.

    :param epochs: passes over the logged steps (gradient steps: epochs * steps / batch_size)
    :param batch_size: logged steps per gradient step
    :param learning_rate: Adam's rate, actor and critic
    :param gamma: discount of TD3+BC's critic (the online preset's 0.9)
    :param tau: soft update of TD3+BC's target networks
    :param alpha: TD3+BC's α, the weight of Q against cloning (the paper's 2.5)
    :param seed: seed of the networks and the batches
    :param torch_threads: torch threads while training
    """

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    gamma: float = 0.9
    tau: float = 0.005
    alpha: float = 2.5
    seed: int = 0
    torch_threads: int = 1

    def __post_init__(self) -> None:
        for name, least in (("epochs", 1), ("batch_size", 1), ("seed", 0),
                            ("torch_threads", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} ({value!r}) must be an integer >= {least}")
        for name, low, high in (("learning_rate", 0.0, math.inf), ("gamma", 0.0, 1.0),
                                ("tau", 0.0, 1.0), ("alpha", 0.0, math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name} ({value!r}) must be a finite number in [{low}, {high}]")
        if self.learning_rate == 0:
            raise ValueError("learning_rate (0) must be above 0")


@dataclass(frozen=True, eq=False)
class LoggedSteps:
    """Logged transitions as arrays, with the catalog their tracks index."""

    observations: np.ndarray
    next_observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    last: np.ndarray
    tracks: np.ndarray
    """Catalog row of each step's logged track [S]."""
    recommendable: np.ndarray
    catalog: Catalog
    layout: ObservationLayout


def logged_steps(source: Episodes | Any) -> LoggedSteps:
    """The transitions of `Episodes` or of a Minari dataset written by `musicgym minari`."""
    if isinstance(source, Episodes):
        bundle = load_bundle(source.config)
        if bundle.catalog.checksum != source.catalog_checksum:
            raise ValueError("the episodes were built with another catalog than their env has")
        data = source.transitions()
        tracks = data["tracks"][:, 0]
    elif hasattr(source, "recover_environment") and hasattr(source, "iterate_episodes"):
        bundle = source.recover_environment().unwrapped.bundle
        data, tracks = _minari_transitions(source, bundle.catalog)
    else:
        raise ValueError(f"source must be logged Episodes or a MinariDataset, not "
                         f"{type(source).__name__}")
    if tracks.ndim != 1 or data["actions"].shape[1] != bundle.catalog.dim:
        raise ValueError("the offline agents learn from slates of one track (slate_size=1)")
    return LoggedSteps(data["observations"], data["next_observations"], data["actions"],
                       np.asarray(data["rewards"], np.float32), data["last"], tracks,
                       np.isin(tracks, bundle.catalog.recommendable), bundle.catalog,
                       ObservationLayout(_history_length(source), bundle.catalog.dim))


def _history_length(source: Episodes | Any) -> int:
    if isinstance(source, Episodes):
        return source.config.history_length
    return int(source.env_spec.kwargs.get("history_length", 10))


def _minari_transitions(dataset: Any, catalog: Catalog) -> tuple[dict[str, np.ndarray],
                                                                 np.ndarray]:
    """A Minari dataset's episodes as transition arrays, tracks mapped by id to catalog rows."""
    keys = ("observations", "next_observations", "actions", "rewards", "last", "tracks")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for episode in dataset.iterate_episodes():
        obs, t = episode.observations, len(episode.rewards)
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(episode.actions)
        parts["rewards"].append(episode.rewards)
        parts["last"].append(np.arange(t) == t - 1)
        ids = np.asarray(episode.infos["tracks"])[1:]
        parts["tracks"].append(catalog.rows(ids.reshape(t, -1)[:, 0]))
    data = {k: np.concatenate(v) for k, v in parts.items()}
    return data, data.pop("tracks")


def new_policy(steps: LoggedSteps, config: OfflineConfig) -> RecPolicy:
    """A fresh `RecPolicy` (bilinear critic) for the steps' catalog, seeded."""
    from gymnasium import spaces

    size, dim = steps.layout.size, steps.layout.dim
    with th.random.fork_rng():
        th.manual_seed(config.seed)
        return RecPolicy(spaces.Box(steps.layout.low, steps.layout.high, (size,), np.float32),
                         spaces.Box(-1.0, 1.0, (dim,), np.float32),
                         lambda _: config.learning_rate,
                         history_length=steps.layout.history_length, dim=dim,
                         critic_head="bilinear", catalog_checksum=steps.catalog.checksum)


def _batches(n: int, config: OfflineConfig, rng: np.random.Generator):
    """Shuffled index batches, `epochs` passes over n items."""
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for a in range(0, n, config.batch_size):
            yield order[a:a + config.batch_size]


def bc_logged(source: Episodes | Any, config: OfflineConfig | None = None) -> RecPolicy:
    """Behaviour cloning of the logged tracks: a `RecPolicy` whose actor imitates the log.

    :param source: logged `Episodes` or a Minari dataset of them (`musicgym minari`)
    :param config: epochs, batch size, learning rate, seed and threads
    """
    config = config or OfflineConfig()
    steps = logged_steps(source)
    keep = np.flatnonzero(steps.recommendable)
    if len(keep) == 0:
        raise ValueError("no logged step plays a recommendable track: nothing to clone "
                         "(lower min_plays, or use a larger log)")
    with training_numerics(config.torch_threads):
        policy = new_policy(steps, config)
        loss_fn = CloningLoss(steps.catalog)
        params = [*policy.actor.parameters(), loss_fn.log_scale]
        optimizer = th.optim.Adam(params, lr=config.learning_rate)
        obs = th.as_tensor(steps.observations[keep])  # a copy: fancy indexing
        targets = loss_fn.targets(steps.tracks[keep])
        policy.set_training_mode(True)
        for index in _batches(len(keep), config, np.random.default_rng(config.seed)):
            loss = loss_fn(policy.actor(obs[index]), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        policy.set_training_mode(False)
    return policy


def td3bc_logged(source: Episodes | Any, config: OfflineConfig | None = None) -> RecPolicy:
    """TD3+BC on the logged transitions: a `RecPolicy` with its trained critic.

    :param source: logged `Episodes` or a Minari dataset of them (`musicgym minari`)
    :param config: epochs, batch size, rates, γ, τ, α, seed and threads
    """
    config = config or OfflineConfig()
    steps = logged_steps(source)
    with training_numerics(config.torch_threads):
        policy = new_policy(steps, config)
        loss_fn = CloningLoss(steps.catalog)
        actor_opt = th.optim.Adam([*policy.actor.parameters(), loss_fn.log_scale],
                                  lr=config.learning_rate)
        critic_opt = th.optim.Adam(policy.critic.parameters(), lr=config.learning_rate)
        # bootstrap on the track the env would play (dot decoding), as the online agents do
        policy.actor_target.catalog = loss_fn.vectors
        arrays = {k: th.as_tensor(np.array(v)) for k, v in (
            ("obs", steps.observations), ("next", steps.next_observations),
            ("actions", steps.actions), ("rewards", steps.rewards),
            ("done", steps.last.astype(np.float32)))}
        targets = loss_fn.targets(np.where(steps.recommendable, steps.tracks, 0))
        cloned = th.as_tensor(steps.recommendable)
        policy.set_training_mode(True)
        rng = np.random.default_rng(config.seed)
        for step, index in enumerate(_batches(steps.rewards.size, config, rng)):
            batch = {k: v[index] for k, v in arrays.items()}
            _critic_step(policy, critic_opt, batch, config)
            if step % 2 == 0:  # TD3's delayed actor updates
                _actor_step(policy, actor_opt, loss_fn, batch["obs"], targets[index],
                            cloned[index], config)
        policy.set_training_mode(False)
    return policy


def _critic_step(policy: RecPolicy, optimizer: th.optim.Optimizer,
                 batch: dict[str, th.Tensor], config: OfflineConfig) -> None:
    """One TD step: y = r + γ (1 - done) min_k Q'_k(s', π'(s'))."""
    with th.no_grad():
        following = policy.actor_target(batch["next"])
        q_next = th.cat(policy.critic_target(batch["next"], following), dim=1).min(dim=1).values
        y = batch["rewards"] + config.gamma * (1.0 - batch["done"]) * q_next
    qs = policy.critic(batch["obs"], batch["actions"])
    loss = sum(nn.functional.mse_loss(q.squeeze(1), y) for q in qs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _actor_step(policy: RecPolicy, optimizer: th.optim.Optimizer, loss_fn: CloningLoss,
                obs: th.Tensor, targets: th.Tensor, cloned: th.Tensor,
                config: OfflineConfig) -> None:
    """Maximise λ Q(s, π(s)) - cloning loss, λ = α / mean|Q| (TD3+BC); then soft updates."""
    protos = policy.actor(obs)
    q = policy.critic.q1_forward(obs, protos).squeeze(1)
    lam = config.alpha / q.abs().mean().detach().clamp(min=1e-6)
    cloning = (nn.functional.cross_entropy(loss_fn.logits(protos[cloned]), targets[cloned])
               if cloned.any() else protos.new_zeros(()))
    loss = -lam * q.mean() + cloning
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with th.no_grad():
        for net, target in ((policy.actor, policy.actor_target),
                            (policy.critic, policy.critic_target)):
            for p, tp in zip(net.parameters(), target.parameters(), strict=True):
                tp.mul_(1.0 - config.tau).add_(config.tau * p)
