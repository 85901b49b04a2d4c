"""The README stays true: its commands are the ones CI and the CLI actually use."""
from __future__ import annotations

import re

from click.testing import CliRunner

from service.cli import cli

from .record_files import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(block for block in bash_blocks(README) if "pytest" in block)
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci_script.splitlines()


def test_readme_main_command_runs_the_demo():
    assert any(block.endswith("matchmaker demo") for block in bash_blocks(README))


def test_every_command_in_the_readme_cli_block_exists():
    commands = set(re.findall(r"^matchmaker (?:\[--db PATH\] )?(\w+)", README, re.M))
    assert commands, "README lists no commands"
    for command in commands:
        assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0, command


def test_every_setting_is_documented_in_both_languages():
    from service.settings import ENVIRONMENT
    names = [name for name, _, _ in ENVIRONMENT.values()] + ["MATCHMAKER_EMBED_PRECISION", "MATCHMAKER_MODEL_CACHE"]
    for opening in ("配置项（环境变量）", "Configuration is read once"):
        paragraph = README[README.index(opening):].split("\n\n")[0]
        assert [name for name in names if f"`{name}`" not in paragraph] == [], opening
