"""The `musicgym` command: every command's help prints (argparse formats help text with %)."""

from __future__ import annotations

import pytest

from musicgym.cli import COMMANDS, main


@pytest.mark.parametrize("argv", [[], *([name] for name in COMMANDS)])
def test_help_prints_and_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: musicgym" in capsys.readouterr().out
