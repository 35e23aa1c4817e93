"""Stable-Baselines3 policies for `MusicRec-v0`: a history encoder under the actor and critic.

`RecPolicy` plugs into DDPG and TD3 (`DDPG(RecPolicy, env, policy_kwargs=...)`),
`RecSACPolicy` into SAC; `make_agent` builds either with a preset of hyperparameters.

Per-network learning rates: SB3 resets every optimizer to the algorithm's `learning_rate` at
each training step, so the policies take `actor_lr_ratio` instead: the algorithm's rate is the
critic's, and the actor's optimizer steps with `learning_rate * actor_lr_ratio` (a step hook
scales its rate for the step and restores it after, so schedules and save/load still work).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import Actor, TD3Policy
from torch import nn

from agents.algorithms import ALGORITHMS
from agents.catalogs import catalog_of
from agents.vec_env import SB3VecEnv
from musicgym.data.schema import FIRST_LISTENED, OUTCOMES
from musicgym.envs.observation import POSITION_PARTS, ObservationLayout
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.inputs import CONTEXT_DIM

DEFAULT_NET_ARCH = [256, 256]

MUSICBOX_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 1e-3, "tau": 0.001, "batch_size": 64, "gamma": 0.99, "buffer_size": 10_000,
    "policy_kwargs": {"actor_lr_ratio": 0.05},  # actor 5e-5, critic 1e-3
}
"""The seed project's (musicbox) settings (actor lr 5e-5, critic lr 1e-3), as SB3 keyword
arguments."""

TUNED_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 1e-3, "tau": 0.005, "batch_size": 128, "gamma": 0.9,
    "buffer_size": 100_000, "explore_tracks": 0.3,
    "policy_kwargs": {"actor_lr_ratio": 1.0, "critic_head": "bilinear"},
}
"""Faster actor and target updates, a shorter horizon (sessions are short), 30% of slots
recommending a random track while training, and the bilinear critic."""

PRESETS = {"musicbox": MUSICBOX_HYPERPARAMETERS, "tuned": TUNED_HYPERPARAMETERS}
NOISES = ("gaussian", "ou", "none")
"""Exploration noise kinds of DDPG and TD3 (`make_agent`'s `noise`)."""


class HistoryEncoder(BaseFeaturesExtractor):
    """Encode flat `MusicRec-v0` observations into a state vector for the actor and critic.

    A GRU reads the history (track vector and outcome one-hot per slot, oldest first); slots
    whose valid bit is 0 leave the GRU state unchanged, so their content is ignored. The final
    state, the context and the position go through an MLP.
    """

    def __init__(self, observation_space: spaces.Box, history_length: int, dim: int,
                 hidden: int = 64) -> None:
        super().__init__(observation_space, features_dim=hidden)
        self.layout = ObservationLayout(history_length, dim)
        if observation_space.shape != (self.layout.size,):
            raise ValueError(f"observation shape {observation_space.shape} does not match "
                             f"history_length={history_length}, dim={dim} "
                             f"(expected ({self.layout.size},)); pass the env's layout values")
        self.hidden = hidden
        self.embed = nn.Sequential(nn.Linear(dim + len(OUTCOMES), hidden), nn.ReLU())
        self.gru = nn.GRUCell(hidden, hidden)
        self.head = nn.Sequential(nn.Linear(hidden + CONTEXT_DIM + POSITION_PARTS, hidden),
                                  nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        """State vectors [B, hidden] of observations [B, layout.size]."""
        parts = self.layout.split(observations)
        tracks = th.cat([parts["history_embeddings"], parts["history_outcomes"]], dim=-1)
        x = self.embed(tracks)
        valid = parts["history_valid"] > 0.5
        h = x.new_zeros(len(observations), self.hidden)
        for t in range(self.layout.history_length):
            h = th.where(valid[:, t, None], self.gru(x[:, t], h), h)
        return self.head(th.cat([h, parts["context"], parts["position"]], dim=-1))


def taste_direction(layout: ObservationLayout, obs: th.Tensor) -> th.Tensor:
    """Unit mean vectors [B, dim] of the listened tracks in observations [B, layout.size].

    Listened: skip_2 false (outcome skip_3 only or played to the end). A history with no
    listened track takes the mean of all its tracks; an empty one gives zeros.
    """
    parts = layout.split(obs)
    valid = parts["history_valid"]
    liked = valid * parts["history_outcomes"][..., FIRST_LISTENED:].sum(dim=-1)
    weights = th.where(liked.sum(dim=1, keepdim=True) > 0, liked, valid)
    query = (weights[..., None] * parts["history_embeddings"]).sum(dim=1)
    return nn.functional.normalize(query, dim=-1)


class RecActor(Actor):
    """Deterministic actor: state vector -> slate_size proto-vectors.

    With `unit` (the default), each proto-vector is the network's output scaled to unit
    length. The env's "dot" decoding plays the track with the highest dot product with it, so
    only its direction counts. A box-bounded tanh actor under a critic that is (near) linear
    in the action drifts to a corner of the box, one of a few directions, and recommends the
    same tracks to everyone; the best unit vector under the bilinear critic is instead the
    critic's own taste direction for the state, which decodes to the critic's best track.
    `unit=False` gives SB3's tanh actor. The last layer starts small, as in the DDPG paper.

    `catalog` ([n, dim] track vectors, or None) makes the actor output the vector of the track
    each proto-vector decodes to by dot product (ignoring what was played). The algorithms set
    it on the target actor only, so the critic's bootstrap target values the track the env
    would play, on the same footing as the played tracks' vectors the critic learns from;
    evaluated on a bare unit vector, the bilinear critic overestimates and drifts.

    `taste_prior` w (unit actions only; 0 turns it off) adds w times the session's taste
    direction to each raw proto-vector before it is scaled to unit length: the unit mean
    vector of the listened tracks in the observed history (of every observed track when none
    was listened to). The network's small initial output then starts the actor where item-kNN
    recommends, and training learns what to add to it: a residual policy. The network's output
    is squashed by tanh, so its norm is at most sqrt(dim): with w > sqrt(dim) the proto-vector
    stays within arcsin(sqrt(dim) / w) of the taste direction (30 degrees at dim 16, w 8).
    """

    catalog: th.Tensor | None = None

    def __init__(self, *args: Any, unit: bool = True, taste_prior: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not (np.isfinite(taste_prior) and taste_prior >= 0):
            raise ValueError(f"taste_prior ({taste_prior}) must be a number >= 0")
        if taste_prior > 0 and not unit:
            raise ValueError("taste_prior needs unit actions (unit_actions=True)")
        self.unit = unit
        self.taste_prior = float(taste_prior)
        self.dim = self.features_extractor.layout.dim
        last = [m for m in self.mu if isinstance(m, nn.Linear)][-1]
        nn.init.uniform_(last.weight, -3e-3, 3e-3)
        nn.init.zeros_(last.bias)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        """Proto-vectors [B, K*dim]."""
        out = super().forward(obs)
        if not self.unit:
            return out
        protos = out.reshape(len(out), -1, self.dim)
        if self.taste_prior > 0:
            taste = taste_direction(self.features_extractor.layout, obs)
            protos = protos + self.taste_prior * taste[:, None, :]
        protos = nn.functional.normalize(protos, dim=-1)
        if self.catalog is not None:
            protos = self.catalog[(protos @ self.catalog.T).argmax(dim=-1)]
        return protos.reshape(len(out), -1)


class QHead(nn.Module):
    """One Q-network: MLP over (state, action, per-slot match <W state, proto_k>)."""

    def __init__(self, features_dim: int, action_dim: int, dim: int, net_arch: list[int],
                 activation_fn: type[nn.Module]) -> None:
        super().__init__()
        self.dim = dim
        self.taste = nn.Linear(features_dim, dim)
        slots = action_dim // dim
        layers: list[nn.Module] = []
        width = features_dim + action_dim + slots
        for size in net_arch:
            layers += [nn.Linear(width, size), activation_fn()]
            width = size
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q-values [B, 1] of actions [B, K*dim] in states [B, features_dim]."""
        protos = actions.reshape(len(actions), -1, self.dim)
        match = (protos * self.taste(features)[:, None, :]).sum(dim=-1)
        return self.mlp(th.cat([features, actions, match], dim=1))


class BilinearQHead(nn.Module):
    """One Q-network linear in each slot's track vector: v(state) + sum_k taste(state) . a_k.

    The simulator scores a track by a taste x embedding product, so the value of a track in a
    state is close to linear in its vector: this head has that form, learns it from few
    samples and, unlike an MLP over (state, action), does not invent peaks between tracks.
    """

    def __init__(self, features_dim: int, action_dim: int, dim: int, net_arch: list[int],
                 activation_fn: type[nn.Module]) -> None:
        super().__init__()
        self.dim = dim
        self.value = nn.Sequential(*create_mlp(features_dim, 1, net_arch, activation_fn))
        self.taste = nn.Sequential(*create_mlp(features_dim, dim, net_arch, activation_fn))

    def forward(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q-values [B, 1] of actions [B, K*dim] in states [B, features_dim]."""
        protos = actions.reshape(len(actions), -1, self.dim)
        match = (protos * self.taste(features)[:, None, :]).sum(dim=(1, 2))
        return self.value(features) + match[:, None]


Q_HEADS: dict[str, type[nn.Module]] = {"mlp": QHead, "bilinear": BilinearQHead}


class RecCritic(ContinuousCritic):
    """n_critics Q-heads over the encoded state, each with an explicit taste x proto term."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box,
                 net_arch: list[int], features_extractor: HistoryEncoder, features_dim: int,
                 activation_fn: type[nn.Module] = nn.ReLU, normalize_images: bool = True,
                 n_critics: int = 2, share_features_extractor: bool = True,
                 head: str = "mlp") -> None:
        super().__init__(observation_space, action_space, net_arch, features_extractor,
                         features_dim, activation_fn, normalize_images, n_critics=0,
                         share_features_extractor=share_features_extractor)
        self.n_critics = n_critics
        dim, action_dim = features_extractor.layout.dim, int(np.prod(action_space.shape))
        for idx in range(n_critics):
            q = Q_HEADS[head](features_dim, action_dim, dim, net_arch, activation_fn)
            self.add_module(f"qf{idx}", q)
            self.q_networks.append(q)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        """Q-values [B, 1] of every head."""
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        return tuple(q(features, actions) for q in self.q_networks)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q-values [B, 1] of the first head (the actor's objective in TD3)."""
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
        return self.q_networks[0](features, actions)


class LearningRateScale:
    """Optimizer step hooks: step with lr * ratio, then restore the scheduled lr."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.saved: list[float] = []

    def before(self, optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """Scale every parameter group's lr for this step."""
        self.saved = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * self.ratio

    def after(self, optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """Put the scheduled lr back."""
        for group, lr in zip(optimizer.param_groups, self.saved, strict=True):
            group["lr"] = lr

    def attach(self, optimizer: th.optim.Optimizer) -> None:
        """Register both hooks on `optimizer` (nothing to do for a ratio of 1)."""
        if self.ratio != 1.0:
            optimizer.register_step_pre_hook(self.before)
            optimizer.register_step_post_hook(self.after)


def _rec_parameters(policy: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters of a Rec policy: ours instead of the features-extractor ones."""
    enc = data.pop("features_extractor_kwargs")
    data.pop("features_extractor_class")
    data.update(history_length=enc["history_length"], dim=enc["dim"],
                encoder_hidden=enc["hidden"], actor_lr_ratio=policy.actor_lr_ratio,
                critic_head=policy.critic_head, catalog_checksum=policy.catalog_checksum)
    if hasattr(policy, "unit_actions"):
        data.update(unit_actions=policy.unit_actions, taste_prior=policy.taste_prior)
    return data


class _RecNetworks:
    """What the DDPG/TD3 and SAC policies share: the encoder, `RecCritic`, saved parameters.

    A mixin placed before the SB3 policy class, whose `__init__` it extends.

    :param history_length: history slots in the observation (the env's `layout`)
    :param dim: embedding dimension of the env
    :param encoder_hidden: size of the GRU and of the state vector
    :param actor_lr_ratio: actor learning rate / critic learning rate
    :param net_arch: the actor's and critics' MLPs over the state vector
    :param critic_head: "bilinear" (`BilinearQHead`) or "mlp" (`QHead`)
    :param catalog_checksum: the checksum of the catalog the policy acts in (`make_agent` sets
        it from the env); envs with another catalog refuse the policy (`check_catalog`)
    :param kwargs: other parameters of the SB3 policy (n_critics, optimizer_class, ...)
    """

    def __init__(self, observation_space: spaces.Box, action_space: spaces.Box,
                 lr_schedule: Schedule, history_length: int = 10, dim: int = 16,
                 encoder_hidden: int = 64, actor_lr_ratio: float = 1.0,
                 net_arch: list[int] | dict[str, list[int]] | None = None,
                 critic_head: str = "mlp", catalog_checksum: str | None = None,
                 **kwargs: Any) -> None:
        if critic_head not in Q_HEADS:
            raise ValueError(f"critic_head ({critic_head!r}) must be one of {tuple(Q_HEADS)}")
        self.critic_head = critic_head  # read by make_critic during super().__init__
        super().__init__(observation_space, action_space, lr_schedule,
                         net_arch or DEFAULT_NET_ARCH, features_extractor_class=HistoryEncoder,
                         features_extractor_kwargs={"history_length": history_length, "dim": dim,
                                                    "hidden": encoder_hidden}, **kwargs)
        self.actor_lr_ratio = actor_lr_ratio
        self.catalog_checksum = catalog_checksum
        LearningRateScale(actor_lr_ratio).attach(self.actor.optimizer)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> RecCritic:
        """A `RecCritic` with a new (or the given) encoder."""
        kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return RecCritic(**kwargs, head=self.critic_head).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return _rec_parameters(self, super()._get_constructor_parameters())


class RecPolicy(_RecNetworks, TD3Policy):
    """DDPG/TD3 policy: `RecActor` and `RecCritic` over their own `HistoryEncoder`s.

    Parameters as `_RecNetworks`, and `unit_actions`: proto-vectors of unit length (see
    `RecActor`; False for SB3's tanh actor), and `taste_prior`: how strongly the actor starts
    from the session's taste direction (`RecActor`; 0: not at all); `kwargs` go to `TD3Policy`.
    """

    def __init__(self, *args: Any, unit_actions: bool = True, taste_prior: float = 0.0,
                 **kwargs: Any) -> None:
        self.unit_actions = unit_actions  # read by make_actor during super().__init__
        self.taste_prior = taste_prior
        super().__init__(*args, **kwargs)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> RecActor:
        """A `RecActor` with a new (or the given) encoder."""
        kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return RecActor(**kwargs, unit=self.unit_actions,
                        taste_prior=self.taste_prior).to(self.device)


class RecSACPolicy(_RecNetworks, SACPolicy):
    """SAC policy: SB3's squashed-Gaussian actor and `RecCritic`, each over a `HistoryEncoder`.

    Parameters as `_RecNetworks`; `kwargs` go to `SACPolicy` (use_sde, log_std_init, ...).
    """


def _layout_of(env: Any) -> ObservationLayout:
    """The observation layout of a gym env, a `MusicRecVectorEnv` or an SB3 VecEnv over one."""
    if isinstance(env, VecEnv):
        return env.get_attr("layout")[0]
    return env.unwrapped.layout


def make_agent(algo: Literal["ddpg", "td3", "sac"], env: Any, preset: str = "tuned",
               noise: Literal["gaussian", "ou", "none"] = "gaussian", noise_sigma: float = 0.2,
               seed: int = 0, **overrides: Any) -> OffPolicyAlgorithm:
    """Build an SB3 DDPG, TD3 or SAC model with our policy and a hyperparameter preset.

    :param algo: "ddpg", "td3" or "sac"
    :param env: a `MusicRec-v0` gym env, a `MusicRecVectorEnv` (wrapped in `SB3VecEnv`) or an
        SB3 VecEnv over either
    :param preset: "tuned" (`TUNED_HYPERPARAMETERS`) or "musicbox" (`MUSICBOX_HYPERPARAMETERS`,
        the seed project's)
    :param noise: exploration noise of DDPG/TD3 (SAC explores by its entropy and ignores it)
    :param noise_sigma: its standard deviation, in action units
    :param seed: seed of the model (networks, noise, sampling)
    :param overrides: SB3 keyword arguments that replace the preset's; `policy_kwargs` are
        merged into the preset's
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"algo ({algo!r}) must be one of {tuple(ALGORITHMS)}")
    if preset not in PRESETS:
        raise ValueError(f"preset ({preset!r}) must be one of {tuple(PRESETS)}")
    if noise not in NOISES:
        raise ValueError(f"noise ({noise!r}) must be one of {NOISES}")
    if not (np.isfinite(noise_sigma) and noise_sigma >= 0):
        raise ValueError(f"noise_sigma ({noise_sigma}) must be a number >= 0")
    if isinstance(env, MusicRecVectorEnv):
        env = SB3VecEnv(env)
    layout = _layout_of(env)
    catalog = catalog_of(env)
    kwargs = copy.deepcopy(PRESETS[preset])
    policy_kwargs = {"history_length": layout.history_length, "dim": layout.dim,
                     "catalog_checksum": catalog.checksum,
                     **kwargs.pop("policy_kwargs"), **overrides.pop("policy_kwargs", {})}
    kwargs.update(overrides)
    if algo != "sac":
        kwargs.setdefault("action_noise", _noise(noise, env.action_space.shape[0], noise_sigma))
    policy = RecSACPolicy if algo == "sac" else RecPolicy
    return ALGORITHMS[algo](policy, env, policy_kwargs=policy_kwargs, seed=seed, **kwargs)


def _noise(kind: str, size: int, sigma: float) -> Any:
    """SB3 action noise of the given kind (None for "none")."""
    mean, std = np.zeros(size), np.full(size, sigma)
    if kind == "gaussian":
        return NormalActionNoise(mean, std)
    if kind == "ou":
        return OrnsteinUhlenbeckActionNoise(mean, std)
    if kind == "none":
        return None
    raise ValueError(f"noise ({kind!r}) must be 'gaussian', 'ou' or 'none'")


def wolpertinger_tracks(model: OffPolicyAlgorithm | TD3Policy | SACPolicy, vec_env: Any,
                        obs: np.ndarray, k: int) -> np.ndarray:
    """Tracks (catalog rows) [N, K] chosen by Wolpertinger refinement of the actor's slate.

    Slot by slot, the k unplayed catalog tracks nearest to the slot's proto-vector are each put
    in the slot (the earlier slots hold their chosen tracks, the later ones their protos) and
    scored by the first Q-head; the best one is kept. `vec_env` is a `MusicRecVectorEnv` (or
    `MusicRecEnv`) whose sessions `obs` [N, size] describes; `model` an SB3 model or its policy
    (as `agents.training.load_policy` returns it).
    """
    policy = getattr(model, "policy", model)
    decoder = vec_env.bundle.decoder
    n = len(obs)
    action = policy.predict(obs, deterministic=True)[0].reshape(n, -1, decoder.vectors.shape[1])
    allowed = vec_env.sessions.allowed()
    k = max(1, min(k, int(allowed.sum(axis=1).min()) - action.shape[1] + 1))
    obs_t = policy.obs_to_tensor(obs)[0].repeat_interleave(k, dim=0)
    chosen = np.empty(action.shape[:2], np.int64)
    rows = np.arange(n)
    sq = (decoder.vectors**2).sum(axis=1)
    for j in range(action.shape[1]):
        dist = np.where(allowed, sq[None, :] - 2.0 * action[:, j] @ decoder.vectors.T, np.inf)
        cand = np.argpartition(dist, k - 1, axis=1)[:, :k]
        trial = np.repeat(action[:, None], k, axis=1)
        trial[:, :, j] = decoder.vectors[cand]
        with th.no_grad():
            q = policy.critic.q1_forward(obs_t, th.as_tensor(trial.reshape(n * k, -1),
                                                             device=obs_t.device))
        best = cand[rows, q.reshape(n, k).argmax(dim=1).cpu().numpy()]
        chosen[:, j] = best
        action[:, j] = decoder.vectors[best]
        allowed[rows, best] = False
    return decoder.rows[chosen]


ACTIVATIONS: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (
    nn.ReLU, nn.Tanh, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU)}
OPTIMIZERS: dict[str, type[th.optim.Optimizer]] = {cls.__name__: cls for cls in (
    th.optim.Adam, th.optim.AdamW, th.optim.SGD, th.optim.RMSprop)}
POLICIES: dict[str, type[TD3Policy | SACPolicy]] = {"RecPolicy": RecPolicy,
                                                    "RecSACPolicy": RecSACPolicy}
"""What `policy_description` may name: a description is data, never code to import."""


def _box(space: spaces.Box) -> dict[str, Any]:
    """A Box space as JSON: bounds as one number when they are uniform."""
    def bound(values: np.ndarray) -> float | list[float]:
        flat = values.astype(np.float64).ravel()
        return float(flat[0]) if (flat == flat[0]).all() else flat.tolist()
    return {"shape": list(space.shape), "dtype": str(space.dtype), "low": bound(space.low),
            "high": bound(space.high)}


def _unbox(data: dict[str, Any]) -> spaces.Box:
    shape = tuple(int(n) for n in data["shape"])
    dtype = np.dtype(data["dtype"])
    if dtype.kind != "f":
        raise ValueError(f"space dtype {dtype} is not a float type")
    if len(shape) != 1 or not 0 < shape[0] <= 1 << 20:
        raise ValueError(f"space shape {shape} is not a flat vector's")
    low, high = (np.broadcast_to(np.asarray(data[k], dtype), shape) for k in ("low", "high"))
    return spaces.Box(low.copy(), high.copy(), shape, dtype)


def policy_description(policy: TD3Policy | SACPolicy) -> dict[str, Any]:
    """The JSON description `rebuild_policy` makes the same (untrained) networks from.

    Classes are recorded by name and must be among `POLICIES`, `ACTIVATIONS`, `OPTIMIZERS`.
    """
    name = type(policy).__name__
    if POLICIES.get(name) is not type(policy):
        raise ValueError(f"policy class {name} cannot be saved weights-only; use one of "
                         f"{sorted(POLICIES)}")
    params = dict(policy._get_constructor_parameters())
    out = {"class": name, "observation_space": _box(params.pop("observation_space")),
           "action_space": _box(params.pop("action_space"))}
    params.pop("lr_schedule")
    for key, known in (("activation_fn", ACTIVATIONS), ("optimizer_class", OPTIMIZERS)):
        cls = params.pop(key)
        if known.get(cls.__name__) is not cls:
            raise ValueError(f"{key} {cls.__name__} cannot be saved weights-only; use one of "
                             f"{sorted(known)}")
        out[key] = cls.__name__
    out["kwargs"] = params
    return out


def rebuild_policy(description: dict[str, Any]) -> TD3Policy | SACPolicy:
    """A new policy on the CPU from `policy_description`'s output (load weights into it next).

    :raises ValueError: when the description names an unknown class or wrong arguments
    """
    try:
        cls = POLICIES[description["class"]]
        kwargs = dict(description["kwargs"])
        kwargs["activation_fn"] = ACTIVATIONS[description["activation_fn"]]
        kwargs["optimizer_class"] = OPTIMIZERS[description["optimizer_class"]]
        return cls(_unbox(description["observation_space"]),
                   _unbox(description["action_space"]), lambda _: 0.0, **kwargs).to("cpu")
    except Exception as err:  # noqa: BLE001 - any malformed JSON value: one located error
        raise ValueError(f"the policy description does not rebuild a policy "
                         f"({type(err).__name__}: {err})") from err
