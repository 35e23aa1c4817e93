"""Which worlds judge an agent, and with which env arguments: the rule of held-out evaluation.

An agent trained with an env config is judged on held-out test sessions, with the catalog it
learned with and no training penalties, in:

| key | world |
|---|---|
| train_world | the world it trained in (its ensemble) |
| held_out_world | for an agent trained in half A (B): the other half's world (`held_out`) |
| truth_world | on synthetic data: the generator's own users |

How the held-out world is fitted (`held_out`):
- "one_fit" (the default): one fit on all of the other half's sessions;
- "as_trained": built as the training world is, on the other half's sessions (the same
  ensemble, resampled the same way; each episode's user is one of its members).

"as_trained" judges with a world that differs from the training world only in the sessions it
read, so the train-minus-held-out gap measures what the agent learned of its half's data
alone, not also the difference between an ensemble and one fit (README, Worlds).

`musicgym benchmark`, the Minari export's evaluation env and the examples all use this one
rule.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from musicgym.datasets import load_dataset
from musicgym.envs.config import HELD_OUT, EnvConfig
from musicgym.synthetic.dataset import synthetic_root

OTHER_HALF = {"A": "B", "B": "A"}
"""The held-out world of each training half."""


def judging_configs(config: EnvConfig, test_data: str | Path | None = None,
                    truth: bool = True, held_out: str = "one_fit") -> dict[str, EnvConfig]:
    """The env configs of each world that judges an agent trained with `config`.

    :param config: the config the agent trained with (its world and catalog)
    :param test_data: a log or prepared folder whose sessions replace the test split
    :param truth: add "truth_world" when the data is synthetic (it reads the dataset)
    :param held_out: how the held-out world is fitted, one of `HELD_OUT`
    """
    check_held_out(held_out)
    base = replace(config.unpenalized(), catalog=config.catalog_sessions, sessions="test",
                   test_data=test_data)
    configs = {"train_world": base}
    if config.world in OTHER_HALF:
        ensemble = config.ensemble if held_out == "as_trained" else 1
        configs["held_out_world"] = replace(base, world=OTHER_HALF[config.world],
                                            ensemble=ensemble)
    if truth and synthetic_root(load_dataset(config.data)) is not None:
        configs["truth_world"] = replace(base, world="truth", ensemble=1)
    return configs


def check_held_out(held_out: str) -> None:
    """Raise a `ValueError` unless `held_out` is one of `HELD_OUT`."""
    if held_out not in HELD_OUT:
        raise ValueError(f"held_out ({held_out!r}) must be one of {HELD_OUT}")
