"""Scenarios as data: a population, background traffic and attacks injected at offsets.

A scenario is a YAML file (see `detector/sim/scenarios/*.yaml`), validated with pydantic; an invalid
file raises `ScenarioError` whose message names the field (`steps[0].denials: ...`). Format::

    name: demo                       # required
    description: free text
    duration: 60s                    # optional; scenario length (background stops then). Default:
                                     # until the last step's events are stored.
    population:
      size: 50                       # total users (named ones included)
      seed: 7                        # drives every id, IP, timing: same seed -> same log
      engine: oie                    # oie (Identity Engine) | classic
      domain: acme.com
      users:                         # users the steps refer to by login (the rest are random)
        - {login: dana.whitfield@acme.com, first_name: Dana, last_name: Whitfield,
           home: Chicago, devices: 2}  # home: a city of population.CITIES; devices: Okta Verify, 1-3
    background:
      rate: 20                       # events/s of ordinary traffic (0 = none); not scaled by time_scale
      failure_rate: 0.05             # sign-ins starting with a wrong password
      late_fraction: 0.01            # events stored late (persist delay up to max_late)
      max_late: 5s
    steps:                           # each step: `at` (offset from start) and `kind`
      - at: 3s
        kind: mfa_push_bombing
        user: dana.whitfield@acme.com
        attacker: {city: Bucharest, asn: 9009, ip: 185.156.46.12, proxy: true, risk: HIGH}
        denials: 6                   # prompts the user denies (each fanned out to every device)
        interval: 1s                 # between prompts
        response_delay: 400ms        # prompt -> answer on the phone (< interval)
        accept: true                 # one more prompt, approved: attacker session + SSOs
        sso_apps: 2
      - {at: 20s, kind: impossible_travel, user: ..., far: {city: Singapore}, gap: 90s}
      - {at: 30s, kind: password_spray, attacker: {city: Lagos, asn: 14061}, targets: 20,
         attempts_per_user: 1, interval: 300ms, success: dana.whitfield@acme.com}
      - {at: 40s, kind: raw, persist_delay: 2s, events: [ {eventType: ..., ...} ]}
    inventory:                       # optional: furnish the directory an inventory sync reads
      groups: 40                     # groups in all (departments, offices, admin groups, teams)
      plant:                         # misconfigurations, each a name of planting.PLANTS and its parameters
        - {kind: unrestricted_token}
        - {kind: super_admins, count: 3}
        - {kind: threat_insight, action: audit}

Durations are seconds (number) or strings like `500ms`, `3s`, `2m`, `1h`, `1m30s`. An attacker/far
`origin` is `city` (required) plus optional `ip`, `asn` (a key of population.NETWORKS; default a
residential ISP of that country), `proxy`, `user_agent`, `threat_suspected`, `risk` (LOW/MEDIUM/HIGH).

`Scenario.expected()` lists what was injected (kind, users, source IP, event uuids) so tests can
assert detections; `ScenarioRunner(org, scenario, time_scale).run()` plays it into a SimOrg in real
time (time_scale < 1 compresses step offsets and in-step spacing for fast tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from detector.sim import events as ev
from detector.sim.events import Agent, Ctx, Engine, Origin
from detector.sim.org_population import furnish
from detector.sim.planting import PLANTS
from detector.sim.population import BROWSERS, CITIES, NETWORKS, NamedUser, Person, Population, make_origin
from detector.sim.traffic import (
    Emission,
    TrafficConfig,
    TrafficGenerator,
    failed_password_flow,
    play,
    rescale,
    signin_flow,
    utc_now,
)

SCENARIO_DIR = Path(__file__).with_name("scenarios")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ScenarioError(ValueError):
    """An invalid scenario; the message names the offending field(s)."""


def parse_duration(value: Any) -> float:
    """`3s`, `500ms`, `2m`, `1m30s` or a number of seconds -> seconds (>= 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 3s, 500ms, 2m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f"invalid duration {value!r} (use e.g. 3s, 500ms, 2m, 1m30s)")
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 3s, 500ms, 2m")
    if seconds < 0:
        raise ValueError("duration must be >= 0")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_city(v: str) -> str:
    if v not in CITIES:
        raise ValueError(f"unknown city {v!r}; known: {', '.join(sorted(CITIES))}")
    return v


City = Annotated[str, BeforeValidator(_known_city)]


class OriginSpec(_Model):
    """Where an attacker (or a travelling user) connects from."""

    city: City
    ip: str | None = None
    asn: int | None = None
    proxy: bool | None = None
    user_agent: str | None = None
    threat_suspected: bool = False
    risk: Literal["LOW", "MEDIUM", "HIGH"] = "HIGH"

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v

    @field_validator("asn")
    @classmethod
    def _asn(cls, v: int | None) -> int | None:
        if v is not None and v not in NETWORKS:
            raise ValueError(f"unknown ASN {v}; known: {', '.join(map(str, sorted(NETWORKS)))}")
        return v

    def resolve(self, rng: random.Random) -> Origin:
        agent = _agent(self.user_agent) if self.user_agent else rng.choice(BROWSERS)
        return make_origin(
            rng,
            city=self.city,
            ip=self.ip,
            asn=self.asn,
            agent=agent,
            proxy=self.proxy,
            threat_suspected=self.threat_suspected,
        )


def _agent(raw: str) -> Agent:
    """Okta's coarse user-agent parse (browser upper-case, UNKNOWN for tools)."""
    low = raw.lower()
    browser = next(
        (
            b
            for k, b in (("edg/", "EDGE"), ("chrome/", "CHROME"), ("firefox/", "FIREFOX"), ("safari/", "SAFARI"))
            if k in low
        ),
        "UNKNOWN",
    )
    os_name = next(
        (
            o
            for k, o in (
                ("windows", "Windows 10"),
                ("mac os x", "Mac OS X"),
                ("android", "Android"),
                ("iphone", "iOS"),
                ("linux", "Linux"),
            )
            if k in low
        ),
        "Unknown",
    )
    device = "Mobile" if os_name in {"Android", "iOS"} else ("Computer" if browser != "UNKNOWN" else "Unknown")
    return Agent(raw, os_name, browser, device)


class NamedUserSpec(_Model):
    login: str
    first_name: str
    last_name: str
    home: City | None = None
    devices: int | None = Field(default=None, ge=1, le=3)
    id: str | None = Field(default=None, pattern=r"^00u[A-Za-z0-9]{17}$")


class PopulationSpec(_Model):
    size: int = Field(default=50, ge=1, le=100_000)
    seed: int = 0
    engine: Engine = "oie"
    domain: str = "acme.com"
    users: list[NamedUserSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits(self) -> PopulationSpec:
        if len(self.users) > self.size:
            raise ValueError(f"size ({self.size}) is smaller than the number of named users ({len(self.users)})")
        return self

    def build(self) -> Population:
        named = [NamedUser(u.login, u.first_name, u.last_name, u.home, u.devices, u.id) for u in self.users]
        return Population.build(
            random.Random(self.seed), self.size, engine=self.engine, domain=self.domain, named=named
        )


class BackgroundSpec(_Model):
    rate: float = Field(default=20.0, ge=0)
    failure_rate: float = Field(default=0.05, ge=0, le=1)
    late_fraction: float = Field(default=0.01, ge=0, le=1)
    max_late: Seconds = 5.0

    def config(self) -> TrafficConfig:
        return TrafficConfig(
            rate=self.rate,
            failure_rate=self.failure_rate,
            late_fraction=self.late_fraction,
            max_late=max(self.max_late, 0.5),
        )


class InventorySpec(_Model):
    """The directory around the population (`org_population.furnish`) and the misconfigurations planted in it."""

    groups: int = Field(default=40, ge=1, le=10_000)
    plant: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("plant")
    @classmethod
    def _known_plants(cls, plants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, entry in enumerate(plants):
            kind = entry.get("kind")
            if kind not in PLANTS:
                raise ValueError(f"[{i}].kind: {kind!r} is not one of {', '.join(PLANTS)}")
            unknown = sorted(set(entry) - {"kind", *PLANTS[kind]})
            if unknown:
                raise ValueError(f"[{i}]: {kind} takes {', '.join(PLANTS[kind]) or 'no parameters'}, not {unknown}")
        return plants

    def apply(self, org: Any, seed: int) -> None:
        """Furnish the org unless it is (`detector sim --directory-users`, a previous run) and plant, once."""
        inventory = org.inventory
        if not inventory.furnished:
            furnish(org, random.Random(f"{seed}/inventory"), self.groups)
        if inventory.plant.planted:
            return
        for entry in self.plant:
            inventory.plant.apply(entry["kind"], **{k: v for k, v in entry.items() if k != "kind"})
        inventory.plant.planted = True


class _Step(_Model):
    at: Seconds


class PushBombingStep(_Step):
    kind: Literal["mfa_push_bombing"]
    user: str
    attacker: OriginSpec
    denials: int = Field(default=6, ge=1, le=1000)
    interval: Seconds = 1.0
    response_delay: Seconds = 0.4
    accept: bool = True
    sso_apps: int = Field(default=1, ge=0, le=10)

    @model_validator(mode="after")
    def _timing(self) -> PushBombingStep:
        if self.interval <= 0:
            raise ValueError("interval must be > 0")
        if self.response_delay >= self.interval:
            raise ValueError("response_delay must be shorter than interval")
        return self


class ImpossibleTravelStep(_Step):
    kind: Literal["impossible_travel"]
    user: str
    far: OriginSpec
    gap: Seconds = 120.0
    same_device: bool = True  # the user's own laptop on a far network (else a new browser too)
    home_signin: bool = True


class PasswordSprayStep(_Step):
    kind: Literal["password_spray"]
    attacker: OriginSpec
    targets: int | list[str] = 20
    attempts_per_user: int = Field(default=1, ge=1, le=50)
    interval: Seconds = 0.5
    success: str | None = None  # login whose password the attacker guesses (on the last round)

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: int | list[str]) -> int | list[str]:
        if isinstance(v, int) and v < 1:
            raise ValueError("targets must be >= 1")
        if isinstance(v, list) and not v:
            raise ValueError("targets must not be empty")
        return v


class RawStep(_Step):
    kind: Literal["raw"]
    events: list[dict[str, Any]] = Field(min_length=1)
    persist_delay: Seconds = 0.0


Step = Annotated[PushBombingStep | ImpossibleTravelStep | PasswordSprayStep | RawStep, Field(discriminator="kind")]
STEP_KINDS = ("mfa_push_bombing", "impossible_travel", "password_spray", "raw")


@dataclass(frozen=True)
class InjectedAttack:
    """What a step injected, for asserting detections: who, from where, which events."""

    kind: str
    step: int
    at: float  # scenario offset, seconds
    users: tuple[str, ...]  # logins attacked
    user_ids: tuple[str, ...]
    source_ip: str | None
    event_uuids: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Compiled:
    """A scenario laid out in time: its population, attack emissions (time-ordered) and metadata."""

    population: Population
    emissions: list[Emission]
    attacks: list[InjectedAttack]


class Scenario(_Model):
    name: str
    description: str = ""
    duration: Seconds | None = None
    population: PopulationSpec = Field(default_factory=PopulationSpec)
    background: BackgroundSpec = Field(default_factory=BackgroundSpec)
    steps: list[Step] = Field(default_factory=list)
    inventory: InventorySpec | None = None

    @model_validator(mode="after")
    def _users_exist(self) -> Scenario:
        """Every login a step names must be in the population (named users, or the seeded ones)."""
        refs = [(i, name, login) for i, s in enumerate(self.steps) for name, login in _step_logins(s)]
        if refs:
            pop = self.population.build()
            for i, name, login in refs:
                try:
                    pop.by_login(login)
                except KeyError:
                    raise ValueError(
                        f"steps[{i}].{name}: no user {login!r} in the population (add it under population.users)"
                    ) from None
        return self

    def compile(self, start: datetime) -> Compiled:
        """Lay the attacks out from `start` in scenario time (deterministic given population.seed)."""
        pop = self.population.build()
        emissions: list[Emission] = []
        attacks: list[InjectedAttack] = []
        for i, step in enumerate(self.steps):
            rng = random.Random(f"{self.population.seed}/step/{i}")
            ems, attack = _BUILDERS[step.kind](rng, pop, step, i, start + _td(step.at))
            emissions += ems
            attacks.append(attack)
        emissions.sort(key=lambda e: e.at)  # stable: same-time events keep their causal order
        return Compiled(pop, emissions, attacks)

    def expected(self) -> list[InjectedAttack]:
        """The attacks this scenario injects (users, source IPs, event uuids)."""
        return self.compile(EPOCH).attacks

    def end_offset(self) -> float:
        """Seconds from start to the last attack event (or `duration` if longer)."""
        comp = self.compile(EPOCH)
        last = max(((e.at - EPOCH).total_seconds() for e in comp.emissions), default=0.0)
        return max(last, self.duration or 0.0)


def _step_logins(step: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(step, PushBombingStep | ImpossibleTravelStep):
        out.append(("user", step.user))
    if isinstance(step, PasswordSprayStep):
        if isinstance(step.targets, list):
            out += [(f"targets[{j}]", t) for j, t in enumerate(step.targets)]
        if step.success:
            out.append(("success", step.success))
    return out


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


# --------------------------------------------------------------------------- attack builders

_GEO_NEW = ("New Geo-Location", "New City", "New State", "New Country")


def _novelty(person: Person, origin: Origin, *, new_device: bool) -> frozenset[str]:
    """The behaviors Okta would flag for `origin` against the user's home history."""
    pos: set[str] = set()
    if origin.ip != person.home_ip:
        pos.add("New IP")
    if new_device:
        pos.add("New Device")
    if origin.place is not None and origin.place != person.home:
        pos |= {"New Geo-Location", "New City"}
        if origin.place.state != person.home.state or origin.place.country != person.home.country:
            pos.add("New State")
        if origin.place.country != person.home.country:
            pos |= {"New Country", "Velocity"}
    return frozenset(pos)


def _reasons(pos: frozenset[str]) -> tuple[str, ...]:
    out = []
    if "New Device" in pos:
        out.append("Anomalous Device")
    if pos & set(_GEO_NEW):
        out.append("Anomalous Location")
    return tuple(out)


def _uuids(ems: list[Emission]) -> tuple[str, ...]:
    return tuple(str(e.event["uuid"]) for e in ems if "uuid" in e.event)


def _push_bombing(
    rng: random.Random, pop: Population, step: PushBombingStep, i: int, start: datetime
) -> tuple[list[Emission], InjectedAttack]:
    victim = pop.by_login(step.user)
    attacker = step.attacker.resolve(rng)
    pos = _novelty(victim, attacker, new_device=True)
    ctx = Ctx(
        victim.actor,
        attacker,
        pop.engine,
        ev.session_id(rng, pop.engine),
        ev.request_id(rng),
        ev.request_id(rng),
        pos,
        step.attacker.risk,
        _reasons(pos),
    )
    out: list[Emission] = []
    if pop.engine == "oie":  # the attacker already has the password
        out.append(Emission(start, ev.password_verify(rng, start, ctx)))
    out.append(Emission(start, ev.policy_evaluation(rng, start, ctx, result="CHALLENGE")))
    device = rng.choice(victim.devices)  # the phone the victim answers on
    phone = Ctx(victim.actor, victim.phone_origin(device), pop.engine, ctx.session_id, "", ctx.authn_request_id)
    prompts = step.denials + (1 if step.accept else 0)
    for n in range(prompts):
        t = start + _td(0.3 + n * step.interval)
        ctx = ctx.next_request(rng)
        out += [Emission(t, e) for e in ev.push_sent(rng, t, ctx, victim.devices)]
        answer = t + _td(step.response_delay)
        approve = n == step.denials
        out += [
            Emission(answer, e) for e in ev.push_response(rng, answer, phone.next_request(rng), device, approve=approve)
        ]
    if step.accept:
        t = start + _td(0.3 + step.denials * step.interval + step.response_delay + 0.2)
        ctx = ctx.next_request(rng)
        assert ctx.session_id is not None
        out.append(Emission(t, ev.session_start(rng, t, ctx), opens_session=(victim.id, ctx.session_id)))
        for app in rng.sample(victim.apps, min(step.sso_apps, len(victim.apps))):
            t += _td(0.3)
            ctx = ctx.next_request(rng)
            out.append(Emission(t, ev.sso(rng, t, ctx, app)))
    attack = InjectedAttack(
        "mfa_push_bombing",
        i,
        step.at,
        (victim.login,),
        (victim.id,),
        attacker.ip,
        _uuids(out),
        {
            "denials": step.denials,
            "accepted": step.accept,
            "devices": len(victim.devices),
            "session_id": ctx.session_id,
            "push_events": prompts * len(victim.devices),
        },
    )
    return out, attack


def _impossible_travel(
    rng: random.Random, pop: Population, step: ImpossibleTravelStep, i: int, start: datetime
) -> tuple[list[Emission], InjectedAttack]:
    victim = pop.by_login(step.user)
    out: list[Emission] = []
    if step.home_signin:
        home, _ = signin_flow(rng, victim, start, engine=pop.engine, apps=victim.apps[:1])
        out += home
    far = step.far.resolve(rng)
    if step.same_device:
        far = replace(far, agent=victim.browser, fingerprint=victim.fingerprint, dt_hash=victim.dt_hash)
    device = rng.choice(victim.devices)
    responder = Origin(far.ip, far.place, far.net, device.agent)
    pos = _novelty(victim, far, new_device=not step.same_device)
    away, _ = signin_flow(
        rng,
        victim,
        start + _td(step.gap),
        engine=pop.engine,
        origin=far,
        responder=responder,
        device=device,
        positive=pos,
        risk=step.far.risk,
        risk_reasons=_reasons(pos),
        apps=victim.apps[:1],
    )
    out += away
    attack = InjectedAttack(
        "impossible_travel",
        i,
        step.at,
        (victim.login,),
        (victim.id,),
        far.ip,
        _uuids(out),
        {
            "home_city": victim.home.city,
            "far_city": far.place.city if far.place else None,
            "gap": step.gap,
            "home_ip": victim.home_ip,
        },
    )
    return out, attack


def _password_spray(
    rng: random.Random, pop: Population, step: PasswordSprayStep, i: int, start: datetime
) -> tuple[list[Emission], InjectedAttack]:
    attacker = step.attacker.resolve(rng)
    if isinstance(step.targets, list):
        targets = [pop.by_login(t) for t in step.targets]
    else:
        skip = [step.success] if step.success else []
        targets = pop.pick(rng, step.targets - (1 if step.success else 0), exclude=skip)
    if step.success and all(t.login != step.success for t in targets):
        targets.insert(rng.randint(0, len(targets)), pop.by_login(step.success))
    out: list[Emission] = []
    n = 0
    for rnd in range(step.attempts_per_user):
        for person in targets:
            t = start + _td(n * step.interval)
            n += 1
            pos = _novelty(person, attacker, new_device=True)
            if person.login == step.success and rnd == step.attempts_per_user - 1:
                out += _password_only_signin(rng, person, t, pop.engine, attacker, pos, step.attacker.risk)
            else:
                out += failed_password_flow(
                    rng, person, t, engine=pop.engine, origin=attacker, positive=pos, risk=step.attacker.risk
                )
    attack = InjectedAttack(
        "password_spray",
        i,
        step.at,
        tuple(p.login for p in targets),
        tuple(p.id for p in targets),
        attacker.ip,
        _uuids(out),
        {"attempts": n, "success": step.success},
    )
    return out, attack


def _password_only_signin(
    rng: random.Random, person: Person, t: datetime, engine: Engine, origin: Origin, pos: frozenset[str], risk: str
) -> list[Emission]:
    """A guessed password that a password-only sign-on policy lets straight in."""
    ctx = Ctx(
        person.actor,
        origin,
        engine,
        ev.session_id(rng, engine),
        ev.request_id(rng),
        ev.request_id(rng),
        pos,
        risk,
        _reasons(pos),
    )
    out = []
    if engine == "oie":
        out.append(Emission(t, ev.password_verify(rng, t, ctx)))
    out.append(Emission(t, ev.policy_evaluation(rng, t, ctx, result="ALLOW")))
    assert ctx.session_id is not None
    out.append(Emission(t, ev.session_start(rng, t, ctx), opens_session=(person.id, ctx.session_id)))
    return out


def _raw(
    rng: random.Random, pop: Population, step: RawStep, i: int, start: datetime
) -> tuple[list[Emission], InjectedAttack]:
    out = [Emission(start, dict(e), persist_delay=step.persist_delay) for e in step.events]
    users = tuple(str(e.get("actor", {}).get("alternateId")) for e in step.events if isinstance(e.get("actor"), dict))
    return out, InjectedAttack(
        "raw", i, step.at, users, (), None, _uuids(out), {"event_types": [e.get("eventType") for e in step.events]}
    )


_BUILDERS: dict[str, Callable[..., tuple[list[Emission], InjectedAttack]]] = {
    "mfa_push_bombing": _push_bombing,
    "impossible_travel": _impossible_travel,
    "password_spray": _password_spray,
    "raw": _raw,
}


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in STEP_KINDS or str(part).startswith(("function-", "int", "list[")):
            continue  # pydantic's union-branch markers, not fields
        else:
            out += ("." if out else "") + str(part)
    return out or "<scenario>"


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a decoded YAML document; errors name the field (`steps[0].denials: ...`)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            where = _loc(err["loc"])
            lines.append(msg if msg.startswith("steps[") else f"{where}: {msg}")
        raise ScenarioError(f"{source}: invalid scenario:\n  " + "\n  ".join(lines)) from None


def scenario_path(name_or_path: str | Path) -> Path:
    """A file path, or the name of a bundled scenario (`demo` -> scenarios/demo.yaml)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    bundled = SCENARIO_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    raise ScenarioError(f"no scenario file {str(name_or_path)!r} (bundled: {', '.join(bundled_scenarios())})")


def bundled_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (or a bundled scenario by name)."""
    p = scenario_path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p}: not valid YAML: {exc}") from None
    return parse_scenario(data, str(p))


# --------------------------------------------------------------------------- running


class ScenarioRunner:
    """Plays a scenario into an org in real time: background traffic plus the attack steps.

    `time_scale` multiplies step offsets, in-step spacing and persist delays (0.01 = 100x faster);
    the background keeps its configured real rate. Users are registered in the org on `run()`.
    """

    def __init__(
        self,
        org: Any,
        scenario: Scenario,
        time_scale: float = 1.0,
        *,
        clock: Callable[[], datetime] | None = None,
        background: bool = True,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.org = org
        self.scenario = scenario
        self.time_scale = time_scale
        self.background = background
        self.clock = clock or _org_clock(org)
        self.compiled: Compiled | None = None
        self.stored = 0

    async def run(self, *, until_cancelled: bool = False) -> list[InjectedAttack]:
        """Play everything; returns the injected attacks. With `until_cancelled` the background keeps
        going after the steps until the task is cancelled."""
        t0 = self.clock()
        comp = self.scenario.compile(t0)
        self.compiled = comp
        _register(self.org, comp.population)
        if self.scenario.inventory is not None and hasattr(self.org, "inventory"):
            self.scenario.inventory.apply(self.org, self.scenario.population.seed)
        attack_ems = [rescale(e, t0, self.time_scale) for e in comp.emissions]
        stop = asyncio.Event()
        bg_task: asyncio.Task[int] | None = None
        bg = self.scenario.background
        if self.background and bg.rate > 0:
            gen = TrafficGenerator(
                comp.population, random.Random(f"{self.scenario.population.seed}/background"), bg.config()
            )
            bg_task = asyncio.create_task(play(gen.stream(t0), self.org, clock=self.clock, stop=stop))
        try:
            self.stored = await play(iter(attack_ems), self.org, clock=self.clock)
            if until_cancelled:
                await asyncio.Event().wait()
            if self.scenario.duration is not None:
                remaining = self.scenario.duration * self.time_scale - (self.clock() - t0).total_seconds()
                if remaining > 0:
                    await asyncio.sleep(remaining)
        finally:
            stop.set()
            if bg_task is not None:
                self.stored += await bg_task
        return comp.attacks


def _org_clock(org: Any) -> Callable[[], datetime]:
    """The org's own clock (epoch seconds) as datetimes, so `published` agrees with the org."""
    clock = getattr(org, "clock", None)
    if callable(clock):
        return lambda: datetime.fromtimestamp(clock(), UTC)
    return utc_now


def _register(org: Any, pop: Population) -> None:
    """Add the population to the org unless a previous run already did."""
    finder = getattr(org, "user_by_login", None)
    if finder is not None and all(finder(p.login) is not None for p in pop.people):
        return
    if finder is not None:
        missing = Population([p for p in pop.people if finder(p.login) is None], pop.engine, pop.domain)
        missing.register(org)
        return
    pop.register(org)


__all__ = [
    "Compiled",
    "InjectedAttack",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "bundled_scenarios",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]
