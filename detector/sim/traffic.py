"""Background traffic: ordinary users signing in, using apps and signing out, at a configured rate.

Detections are only meaningful against a realistic baseline, so the background contains the things
that make naive rules misfire: OIE password-as-factor events, push fan-out to several devices,
wrong-password typos followed by a success, and a small fraction of late events (visible to polling
only `persist_delay` seconds after their `published` time, as Okta's eventual consistency does).

The same deterministic stream (`TrafficGenerator.stream`) backs the synchronous `generate()` used by
tests and benchmarks and the real-time `run()` that feeds a SimOrg.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from detector.sim import events as ev
from detector.sim.events import AppRef, Ctx, Engine, Origin, PushDevice
from detector.sim.population import Person, Population


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Emission:
    """One event to store at `at` (its `published`), visible to polling `persist_delay` s later.

    `opens_session` = (user id, externalSessionId) when storing this event starts an Okta session,
    so the org can track it (and an admin session clear can end it).
    """

    at: datetime
    event: dict[str, Any]
    persist_delay: float = 0.0
    opens_session: tuple[str, str] | None = None


class OrgSink(Protocol):
    """What delivery needs from `SimOrg`."""

    def append(self, event: dict[str, Any], persist_delay: float = 0.0) -> Any: ...


def deliver(org: OrgSink, em: Emission) -> None:
    """Store one emission in the org, registering the session it opens if the org tracks sessions."""
    if em.opens_session is not None:
        _open_session(org, *em.opens_session)
    org.append(em.event, persist_delay=em.persist_delay)


def _open_session(org: Any, user_id: str, sid: str) -> None:
    """Register session `sid` (the id our events carry) as active, so an admin session clear ends it."""
    opener = getattr(org, "open_session", None)
    if opener is not None:
        opener(user_id, session_id=sid)


def _at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


# --------------------------------------------------------------------------- flows (pure)


def signin_flow(
    rng: random.Random,
    person: Person,
    start: datetime,
    *,
    engine: Engine,
    origin: Origin | None = None,
    responder: Origin | None = None,
    device: PushDevice | None = None,
    positive: frozenset[str] = frozenset(),
    risk: str = "LOW",
    risk_reasons: tuple[str, ...] = (),
    apps: Sequence[AppRef] = (),
) -> tuple[list[Emission], Ctx]:
    """A complete successful sign-in: password, push fanned out to every device, approve, session, SSOs.

    `origin` is the browser (default: the person's laptop at home), `responder` the phone that
    approves (default: `device` on the home network). Returns the emissions and the session's Ctx.
    """
    origin = origin or person.home_origin()
    device = device or rng.choice(person.devices)
    responder = responder or person.phone_origin(device)
    ctx = Ctx(
        actor=person.actor,
        origin=origin,
        engine=engine,
        session_id=ev.session_id(rng, engine),
        transaction_id=ev.request_id(rng),
        authn_request_id=ev.request_id(rng),
        positive=positive,
        risk=risk,
        risk_reasons=risk_reasons,
    )
    out: list[Emission] = []
    t = 0.0
    if engine == "oie":
        out.append(Emission(_at(start, t), ev.password_verify(rng, _at(start, t), ctx)))
    out.append(Emission(_at(start, t), ev.policy_evaluation(rng, _at(start, t), ctx, result="CHALLENGE")))
    t += rng.uniform(0.2, 1.2)
    ctx = ctx.next_request(rng)
    out += [Emission(_at(start, t), e) for e in ev.push_sent(rng, _at(start, t), ctx, person.devices)]
    t += rng.uniform(2.0, 8.0)
    phone = replace(ctx.next_request(rng), origin=responder, positive=frozenset(), risk="LOW", risk_reasons=())
    out += [Emission(_at(start, t), e) for e in ev.push_response(rng, _at(start, t), phone, device, approve=True)]
    t += rng.uniform(0.2, 0.6)
    ctx = ctx.next_request(rng)
    assert ctx.session_id is not None
    out.append(
        Emission(_at(start, t), ev.session_start(rng, _at(start, t), ctx), opens_session=(person.id, ctx.session_id))
    )
    for app in apps:
        t += rng.uniform(0.5, 6.0)
        ctx = ctx.next_request(rng)
        out.append(Emission(_at(start, t), ev.sso(rng, _at(start, t), ctx, app)))
    return out, ctx


def failed_password_flow(
    rng: random.Random,
    person: Person,
    start: datetime,
    *,
    engine: Engine,
    origin: Origin | None = None,
    positive: frozenset[str] = frozenset(),
    risk: str = "LOW",
) -> list[Emission]:
    """A wrong password: OIE logs the password factor failure, both engines a failed session start."""
    ctx = Ctx(
        actor=person.actor,
        origin=origin or person.home_origin(),
        engine=engine,
        session_id=ev.session_id(rng, engine),
        transaction_id=ev.request_id(rng),
        authn_request_id=ev.request_id(rng),
        positive=positive,
        risk=risk,
    )
    out = []
    if engine == "oie":
        out.append(Emission(start, ev.password_verify(rng, start, ctx, success=False)))
    out.append(Emission(start, ev.session_start(rng, start, ctx, success=False, reason="INVALID_CREDENTIALS")))
    return out


# --------------------------------------------------------------------------- background generator


@dataclass(frozen=True)
class TrafficConfig:
    """Knobs of the background mix; rates are per flow (one user action), `rate` is events/s."""

    rate: float = 20.0
    failure_rate: float = 0.05  # flows that start with a wrong password
    sso_only_rate: float = 0.3  # flows that are an SSO from an existing session
    logout_rate: float = 0.1
    late_fraction: float = 0.01  # events stored with a persist delay
    max_late: float = 5.0  # seconds
    max_sso: int = 3
    warmup: float = 30.0  # seconds of traffic simulated (and dropped) before the start


@dataclass
class _Live:
    person: Person
    ctx: Ctx


@dataclass
class TrafficGenerator:
    """Deterministic (given `rng`) background traffic for a population."""

    population: Population
    rng: random.Random
    config: TrafficConfig = field(default_factory=TrafficConfig)
    _sessions: deque[_Live] = field(default_factory=lambda: deque(maxlen=200), repr=False)

    def flow(self, start: datetime) -> list[Emission]:
        """One user action starting at `start` (sign-in, failed sign-in, SSO or logout)."""
        rng, cfg = self.rng, self.config
        engine = self.population.engine
        roll = rng.random()
        if self._sessions and roll < cfg.logout_rate:
            live = self._sessions.popleft()
            ctx = live.ctx.next_request(rng)
            out = [Emission(start, ev.session_end(rng, start, ctx))]
        elif self._sessions and roll < cfg.logout_rate + cfg.sso_only_rate:
            live = rng.choice(self._sessions)
            ctx = live.ctx.next_request(rng)
            out = [Emission(start, ev.sso(rng, start, ctx, rng.choice(live.person.apps)))]
        else:
            person = rng.choice(self.population.people)
            out = []
            if rng.random() < cfg.failure_rate:
                out = failed_password_flow(rng, person, start, engine=engine)
                if rng.random() < 0.3:  # gave up (or locked themselves out): no success follows
                    return self._late(out)
                start = _at(start, rng.uniform(3.0, 12.0))
            k = rng.randint(1, min(cfg.max_sso, len(person.apps)))
            ok, ctx = signin_flow(rng, person, start, engine=engine, apps=rng.sample(person.apps, k))
            out += ok
            self._sessions.append(_Live(person, ctx))
        return self._late(out)

    def _late(self, out: list[Emission]) -> list[Emission]:
        cfg = self.config
        if cfg.late_fraction <= 0:
            return out
        return [
            replace(e, persist_delay=round(self.rng.uniform(0.5, cfg.max_late), 3))
            if self.rng.random() < cfg.late_fraction
            else e
            for e in out
        ]

    def stream(self, start: datetime) -> Iterator[Emission]:
        """An endless time-ordered stream averaging `config.rate` events/s from `start`.

        Flows begin `config.warmup` seconds earlier and only events from `start` on are yielded, so
        the stream is in steady state at once (sign-ins already under way, sessions to SSO from).
        """
        if self.config.rate <= 0:
            return
        heap: list[tuple[datetime, int, Emission]] = []
        seq = 0
        next_start = _at(start, -self.config.warmup)
        while True:
            if heap and heap[0][0] <= next_start:
                em = heapq.heappop(heap)[2]
                if em.at >= start:
                    yield em
                continue
            flow = self.flow(next_start)
            for em in flow:
                heapq.heappush(heap, (em.at, seq, em))
                seq += 1
            next_start = _at(next_start, len(flow) / self.config.rate * self.rng.uniform(0.5, 1.5))

    def generate(self, n_events: int, start_time: datetime) -> list[dict[str, Any]]:
        """The first `n_events` events of the stream (sorted by `published`), for tests/benchmarks."""
        return [em.event for em in self.emissions(n_events, start_time)]

    def emissions(self, n_events: int, start_time: datetime) -> list[Emission]:
        out: list[Emission] = []
        for em in self.stream(start_time):
            if len(out) >= n_events:
                break
            out.append(em)
        return out

    async def run(
        self,
        org: OrgSink,
        *,
        clock: Callable[[], datetime] = utc_now,
        stop: asyncio.Event | None = None,
    ) -> int:
        """Feed the org in real time until cancelled or `stop` is set; returns events stored."""
        return await play(self.stream(clock()), org, clock=clock, stop=stop)


async def play(
    emissions: Iterator[Emission],
    org: OrgSink,
    *,
    clock: Callable[[], datetime] = utc_now,
    stop: asyncio.Event | None = None,
) -> int:
    """Store time-ordered emissions when the wall clock reaches their `at`; returns the number stored.

    Time is anchored once (clock + event-loop monotonic time), so a frozen test clock still plays.
    """
    loop = asyncio.get_running_loop()
    wall0, mono0 = clock(), loop.time()
    n = 0
    for em in emissions:
        due = (em.at - wall0).total_seconds() - (loop.time() - mono0)
        if stop is not None:
            if due > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), due)
            if stop.is_set():
                break
        elif due > 0:
            await asyncio.sleep(due)
        deliver(org, em)
        n += 1
    return n


def rescale(em: Emission, origin: datetime, scale: float) -> Emission:
    """Compress an emission's time around `origin` (tests play scenarios faster than real time)."""
    if scale == 1.0:
        return em
    at = origin + (em.at - origin) * scale
    event = {**em.event, "published": ev.iso_ms(at)} if "published" in em.event else em.event
    return replace(em, at=at, event=event, persist_delay=em.persist_delay * scale)
