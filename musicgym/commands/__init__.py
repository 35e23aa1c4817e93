"""Subcommands of the `musicgym` console command."""
