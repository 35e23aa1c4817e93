"""Step many sessions at once with the vector env, and read what happened in each.

`gym.make_vec(..., vectorization_mode="vector_entry_point")` builds a `MusicRecVectorEnv`: N
sessions stepped with array operations (no Python loop over envs), Gymnasium's next-step
autoreset. `infos` holds per session the recommended track ids and their outcome codes, which
`musicgym.data.schema.OUTCOMES` names. For Stable-Baselines3 wrap it as
`agents.vec_env.SB3VecEnv` (see examples/own_agent.py).

    python examples/vector_env.py --num-envs 256 --steps 200
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import musicgym  # noqa: F401  (registers MusicRec-v0)
from musicgym.data.schema import OUTCOMES


def main() -> None:
    """Random slates for every session; print steps per second and the first session's tracks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=256, help="sessions stepped together")
    parser.add_argument("--steps", type=int, default=200, help="vector steps to take")
    parser.add_argument("--slate-size", type=int, default=3, help="tracks per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    envs = gym.make_vec("MusicRec-v0", num_envs=args.num_envs,
                        vectorization_mode="vector_entry_point", slate_size=args.slate_size)
    envs.action_space.seed(args.seed)
    obs, _ = envs.reset(seed=args.seed)
    listened, recommended, ended = 0.0, 0, 0
    start = time.perf_counter()
    for _ in range(args.steps):
        obs, reward, terminated, truncated, infos = envs.step(envs.action_space.sample())
        listened += float(reward.sum())  # reward "listened": 1 per track with skip_2 false
        recommended += int((infos["outcomes"] >= 0).sum())
        ended += int((terminated | truncated).sum())
    seconds = time.perf_counter() - start
    print(f"{args.num_envs} sessions x {args.steps} steps: "
          f"{args.num_envs * args.steps / seconds:,.0f} env-steps/s")
    print(f"{ended} sessions ended; listened rate of random slates "
          f"{listened / max(recommended, 1):.3f} over {recommended} tracks")
    names = [OUTCOMES[c] if c >= 0 else "not played" for c in infos["outcomes"][0]]
    print("last slate of session 0:", ", ".join(
        f"{t} ({o})" for t, o in zip(infos["tracks"][0], names, strict=True)))
    print("observation batch:", np.shape(obs))
    envs.close()


if __name__ == "__main__":
    main()
