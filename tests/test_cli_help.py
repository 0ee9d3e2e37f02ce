"""Every subcommand and option of `detector` says what it is for, and `detector --version` prints the package's."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from importlib.metadata import version

from detector.cli import build_parser
from tests.deploy_support import ROOT


def without_help(parser: argparse.ArgumentParser, prefix: str = "detector") -> list[str]:
    """``detector run --config``-style names of every subcommand and option that has no help text."""
    missing = []
    for action in parser._actions:  # argparse exposes no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helped.get(name):
                    missing.append(f"{prefix} {name}")
                missing += without_help(sub, f"{prefix} {name}")
        elif not action.help and not isinstance(action, argparse._HelpAction):
            missing.append(f"{prefix} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_subcommand_and_option_has_help():
    assert not without_help(build_parser())


def test_an_option_or_subcommand_without_help_is_found():
    parser = build_parser()
    parser.add_argument("--quiet", action="store_true")
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands.add_parser("silent").add_argument("target")
    assert sorted(without_help(parser)) == ["detector --quiet", "detector silent", "detector silent target"]


def test_version_prints_the_installed_package_version():
    out = subprocess.run(
        [sys.executable, "-m", "detector.cli", "--version"], capture_output=True, text=True, check=True
    )
    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out.stdout == f"detector {version('okta-itdr')}\n" == f"detector {written}\n"
