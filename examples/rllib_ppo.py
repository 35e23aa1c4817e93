"""Train Ray RLlib's PPO (new API stack) on MusicRec-v0, its env runners vectorising the env.

Needs the optional extra `ray` (`pip install -e ".[ray]"`). `env_config` holds the keyword
arguments of `gym.make("MusicRec-v0", ...)`: `musicgym.rllib.env_config` checks them here in the
driver, before Ray starts a worker. `musicgym.rllib.register_env()` registers the env with Ray
under its name, so every env runner makes it itself ("musicgym:MusicRec-v0" works as well,
without registering) and, in vectorization mode "vector_entry_point", steps its sessions with
the native vector env. Each env runner loads the fitted simulator from the musicgym cache (the
first one fits it when the cache has none).

    python examples/rllib_ppo.py                                  # 20 iterations, a few minutes
    python examples/rllib_ppo.py --iterations 2 --batch 256       # a smoke test
"""

from __future__ import annotations

import argparse
import time

import ray
import torch
from ray.rllib.algorithms.ppo import PPOConfig

import musicgym.rllib


def parse_args() -> argparse.Namespace:
    """The script's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--slate-size", type=int, default=1, help="tracks per step")
    parser.add_argument("--iterations", type=int, default=20, help="PPO training iterations")
    parser.add_argument("--batch", type=int, default=2000,
                        help="env steps sampled per iteration (train_batch_size_per_learner)")
    parser.add_argument("--num-env-runners", type=int, default=1,
                        help="remote env runners (Ray actors), each with its own envs")
    parser.add_argument("--num-envs", type=int, default=32,
                        help="sessions each env runner steps together (num_envs_per_env_runner)")
    parser.add_argument("--vectorize", default="vector_entry_point",
                        choices=("vector_entry_point", "sync", "async"),
                        help="how an env runner vectorises its envs (gym_env_vectorize_mode)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads of the learner, which runs in this process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("iterations", "batch", "num_env_runners", "num_envs", "torch_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main() -> None:
    """Train PPO; print each iteration's episode return, env steps and policy loss."""
    args = parse_args()
    # PPO's networks are small: on a busy 2-core machine its updates took 38 s an iteration
    # on torch's default 2 threads and 1.7 s on one
    torch.set_num_threads(args.torch_threads)
    env_config = musicgym.rllib.env_config(data=args.data, slate_size=args.slate_size)
    name = musicgym.rllib.register_env()  # "MusicRec-v0", known to every worker
    ray.init(num_cpus=args.num_env_runners + 1, include_dashboard=False,
             runtime_env=musicgym.rllib.runtime_env(), log_to_driver=False)
    config = (PPOConfig()
              .environment(name, env_config=env_config)
              .env_runners(num_env_runners=args.num_env_runners,
                           num_envs_per_env_runner=args.num_envs,
                           gym_env_vectorize_mode=args.vectorize)
              .training(train_batch_size_per_learner=args.batch,
                        minibatch_size=min(128, args.batch), num_epochs=4)
              .debugging(seed=args.seed))
    algo = config.build_algo()
    sampled, train_s = 0, 0.0
    for iteration in range(1, args.iterations + 1):
        start = time.perf_counter()
        result = algo.train()
        train_s += time.perf_counter() - start
        runners = result["env_runners"]
        steps = int(runners["num_env_steps_sampled_lifetime"])
        sampled, new = steps, steps - sampled
        loss = result["learners"]["default_policy"]["policy_loss"]
        print(f"iteration {iteration}: episode return {runners['episode_return_mean']:.3f} "
              f"(min {runners['episode_return_min']:g}, max {runners['episode_return_max']:g}), "
              f"{new} env steps, {steps} in all, policy loss {loss:.4f}")
    # RLlib's sampling timer is a moving average of the time per iteration spent sampling
    sampling = new / result["timers"]["env_runner_sampling_timer"]
    print(f"sampled {sampled} env steps with {args.num_env_runners} env runner(s) x "
          f"{args.num_envs} envs ({args.vectorize}): {sampling:,.0f} env-steps/s while "
          f"sampling, {sampled / train_s:,.0f} env-steps/s with learning")
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
