"""What the deployment tests share: the Dockerfile as data, the build context, and the paths the ops server serves.

No Docker engine here, so the Dockerfile is parsed (instructions, continuation lines, exec-form JSON, flags)
rather than built, and the build context is computed with ``.dockerignore``'s matching rules (the subset the
file uses: ``*``, ``**``, ``?``, ``!`` exceptions, the last matching pattern wins, a pattern matching a parent
directory matches everything under it).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from deploy.kafka.broker import free_port
from detector.config import HttpSettings
from detector.ops.http import OpsHttpServer

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: dict[str, str]  # --from=build, --mount=..., --interval=30s
    args: list[str]  # exec form: the JSON array; shell form: the words (shlex)
    text: str  # the arguments as written, flags removed, continuation lines joined

    @property
    def exec_form(self) -> bool:
        return self.text.startswith("[")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """The build stages in order, each with its instructions (comments and parser directives dropped)."""
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        instruction = _instruction(keyword.upper(), rest.strip())
        if instruction.keyword == "FROM":
            base, _, name = instruction.text.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or None))
        stages[-1].instructions.append(instruction)
    return stages


def _logical_lines(text: str) -> Iterable[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        yield pending + line
        pending = ""


def _instruction(keyword: str, rest: str) -> Instruction:
    flags = {}
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        name, _, value = word[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    if keyword == "HEALTHCHECK" and rest.startswith("CMD "):
        rest = rest.removeprefix("CMD ").strip()
    args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    return Instruction(keyword, flags, args, rest)


def mount_options(flag: str) -> dict[str, str]:
    """``type=bind,from=build,source=/wheels`` as a dict."""
    return dict(part.split("=", 1) for part in flag.split(","))


def _pattern(glob: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out)


def dockerignore(path: Path = ROOT / ".dockerignore") -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) for each rule, in order."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    return rules


def in_context(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the file at ``relative`` (to the context root) is sent to the builder."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, pattern in rules:
        if any(pattern.fullmatch(p) for p in prefixes):
            included = negated
    return included


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


async def served(paths: Iterable[str]) -> dict[str, int]:
    """The HTTP status the ops server (as every role starts it, no role API) answers for each path."""
    port = free_port()
    server = await OpsHttpServer(CollectorRegistry(), "probe", HttpSettings(port=port)).start()
    try:
        async with aiohttp.ClientSession() as session:
            statuses = {}
            for path in paths:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    statuses[path] = response.status
            return statuses
    finally:
        await server.stop()
