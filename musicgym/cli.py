"""The `musicgym` console command: one subcommand per job, each a thin layer over the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# name -> (module, function adding the arguments, function running the command, one-line help)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "generate": ("musicgym.commands.generate", "add_arguments", "run",
                 "write a synthetic MSSD log and track features from a known ground-truth model"),
    "prepare": ("musicgym.commands.prepare", "add_arguments", "run",
                "validate an MSSD log and write a prepared dataset (Parquet + manifest)"),
    "fidelity": ("musicgym.commands.fidelity", "add_arguments", "run",
                 "fit a simulator (or load the cached fit) and report its fidelity to the logs"),
    "train": ("musicgym.commands.train", "add_arguments", "run",
              "train an agent (DDPG by default) in world A and judge it against the baselines "
              "in every world (the main job)"),
    "benchmark": ("musicgym.commands.train", "add_benchmark_arguments", "run_benchmark",
                  "train over several seeds in world A; judge agents and baselines in the "
                  "held-out world B (and A, and on synthetic data the true users), with 95% "
                  "intervals"),
    "recommend": ("musicgym.commands.train", "add_recommend_arguments", "run_recommend",
                  "recommend tracks for a listening history with a trained run"),
    "summary": ("musicgym.commands.prepare", "add_summary_arguments", "run_summary",
                "print what a dataset holds (default: the synthetic default set)"),
    "minari": ("musicgym.commands.minari", "add_arguments", "run",
               "write the logged sessions (or a trained agent's episodes) as a Minari dataset "
               "of MusicRec-v0 episodes, for offline RL"),
    "tracks": ("musicgym.commands.tracks", "add_arguments", "run",
               "list the track ids an agent may recommend, most played first (ids to try "
               "`musicgym recommend` with)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand's options."""
    parser = argparse.ArgumentParser(
        prog="musicgym", description="A Gymnasium environment for music recommendation "
        "with users simulated from MSSD skip logs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, add, _, help_text) in COMMANDS.items():
        # argparse %-formats help strings (not descriptions): a literal % must be doubled
        command = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        getattr(importlib.import_module(module), add)(command)
    return parser


# What a user can fix: printed as one line, without a traceback (MUSICGYM_DEBUG=1 shows it).
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named on the command line; return its exit status.

    Errors the user can fix (bad arguments, bad files) print one line, `musicgym COMMAND:
    error: ...`, and exit with status 2, as argparse does for its own errors.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # a bare `musicgym`: what it can do, and exit 2 as argparse does for errors
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    module, _, run, _ = COMMANDS[args.command]
    try:
        return int(getattr(importlib.import_module(module), run)(args) or 0)
    except USER_ERRORS as err:
        if os.environ.get("MUSICGYM_DEBUG"):
            raise
        print(f"musicgym {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"musicgym {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`musicgym tracks | head`)
        # point stdout at /dev/null so that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
