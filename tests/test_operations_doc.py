"""docs/operations.md keeps up with what it explains: every alert rule has its section, every dashboard panel is
read out, every `detector` command it shows parses, and the README links the operating docs."""

from __future__ import annotations

import argparse
import json
import re
import shlex

import pytest
import yaml

from detector.cli import build_parser
from tests.deploy_support import ROOT

DOC = ROOT / "docs" / "operations.md"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_alert_has_a_section_saying_what_to_do():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"]
    alerts = [rule["alert"] for group in rules for rule in group["rules"]]
    sections = dict(re.findall(r"^### (Itdr\w+)\n\n(.+?)(?=\n### |\Z)", text(), re.M | re.S))
    assert list(sections) == alerts, "one section per alert, in the rules' order"
    assert all(len(body.split()) >= 15 for body in sections.values())


def test_every_dashboard_panel_is_read_out():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "okta-itdr.json").read_text())
    section = " ".join(text().split("\n## The dashboard\n", 1)[1].split("\n## ", 1)[0].split())  # lines unwrapped
    for panel in dashboard["panels"]:
        written = f"**{panel['title']}.**" if panel["type"] == "row" else f"*{panel['title']}*"
        assert written in section, panel["title"]


def commands() -> list[str]:
    """Every ``detector ...`` the page shows, in code blocks and code spans, but usage lines ([optional] parts)."""
    found = re.findall(r"(?:^|`|-- )(detector [^`\n]+)", text(), re.M)
    return [c.strip() for c in found if "[" not in c and "COMMAND" not in c]


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", sorted(set(commands())))
def test_every_command_and_flag_shown_exists(command: str):
    """Prose names a subcommand without its required arguments, so each word is checked, not the whole line."""
    parser = build_parser()
    name, *rest = shlex.split(command)[1:]
    if name.startswith("--"):
        assert name in options(parser)
        return
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert name in subcommands, f"no subcommand {name}"
    for word in rest:
        if word.startswith("-"):
            assert word.split("=")[0] in options(subcommands[name]), f"detector {name} has no {word}"


def test_the_page_shows_commands_to_check():
    assert len(commands()) >= 5


def test_the_readme_links_the_operating_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/operations.md", "docs/config.md", "docs/metrics.md"):
        assert f"]({page})" in readme, page
