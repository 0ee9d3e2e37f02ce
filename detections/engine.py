"""The detection engine: explicit state in, findings out.

A detection is a pure object: ``state_key`` says which state an event touches
(usually the user), ``detect`` reads the event and that state, updates the
state and returns findings. The engine owns nothing but the list of detections;
the caller owns the state store, which is a plain dict in tests, a SQLite-backed
cache in embedded mode and a Faust table in Kafka mode.

Store keys: the detections keyed by actor share one record per actor, ``actor|<actor id>``
(``detections.actor_record``); the others have ``<detection>|<key>``. Each state has a horizon
(``Detection.expires_at``) after which the stores sweep it (``detections.lifecycle``).
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import Callable, Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from detections import actor_record, routing
from detections.actor_record import ActorRecord
from detections.baseline import NOTHING_NEW, Baseline, Novelty, facets_of
from detections.directory import NO_DIRECTORY, DirectoryFacts
from detections.event import Event
from detections.finding import Finding
from detections.lifecycle import watermark
from detections.tenant_profile import TenantProfile
from detections.threat_signals import Signal, ThreatSignals

STATE_VERSION = 2  # "v" of every encoded state; absent = the first encoding (positional rows)


class DetectionState(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class Detection(Protocol):
    id: ClassVar[str]
    # True when every event that touches one state key carries the same actor id. Kafka keys okta.events by
    # actor, so such state lives in the actor's partition; any other detection gets its events re-keyed by
    # state key first (Engine.routes).
    keyed_by_actor: ClassVar[bool]
    # Optional ``human_only: ClassVar[bool]`` (absent = False): the detection judges a person's behaviour, so the
    # engine does not feed it the events of the tenant's listed service accounts (TenantProfile.service_accounts).
    # Optional ``reads_baseline: ClassVar[bool]`` (absent = False): the detection is called as
    # ``detect(event, state, novelty)`` with what the event shows that is new for its user (detections.baseline);
    # it must be keyed by actor, where the user's profile lives.
    # Optional ``reads_directory: ClassVar[bool]`` (absent = False): the detection is called with the keyword
    # ``directory=`` (detections.directory.DirectoryFacts): what the tenant's directory inventory says of a user.
    # Optional ``event_types: ClassVar[frozenset[str] | None]`` (absent = None: any): the only event types
    # ``state_key`` can return a key for; the engine offers the detection no other (detections.routing).

    def state_key(self, event: Event) -> str | None:
        """The state partition this event updates, or None when the event is not relevant."""

    def new_state(self) -> Any: ...

    def load_state(self, data: dict[str, Any]) -> Any: ...

    # Called with the event's novelty too when it reads the baseline, and directory= when it reads the directory.
    def detect(self, event: Event, state: Any, *args: Any, **kwargs: Any) -> list[Finding]: ...

    # Optional ``expires_at(state) -> float | None``: the event time after which the state can no longer
    # contribute to a finding (its windows, suppressions and episodes are over), so the stores may delete it;
    # None (and a detection without the method) keeps it for ever.


StateStore = MutableMapping[str, Any]


@dataclass(frozen=True, slots=True)
class DetectionFailure:
    """A detection raised on an event: the event still reached every other detection."""

    detection: str
    # builtins.: mypyc (2.4) looks a dataclass field's builtin class up among this module's names, where it is not
    error: builtins.BaseException = field(compare=False)

    @property
    def reason(self) -> str:
        return f"detection {self.detection} raised {type(self.error).__name__}: {self.error}"[:500]


@dataclass(slots=True)
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    failures: list[DetectionFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What the engine must know about the tenant: its name, our own credentials (derived from the config, to
    ignore our own actions) and the organisation's profile as the tenant's engineer stated it (config
    ``context:``; build_detections merges its egress and travellers into the detections' configs)."""

    tenant: str
    own_client_ids: frozenset[str] = frozenset()
    own_api_token_ids: frozenset[str] = frozenset()
    profile: TenantProfile = field(default_factory=TenantProfile)

    def is_own_action(self, event: Event) -> bool:
        """Our enforcement calls show up in the System Log; they must never trigger detections."""
        return (
            (event.client_id is not None and event.client_id in self.own_client_ids)
            or (event.api_token_id is not None and event.api_token_id in self.own_api_token_ids)
            or (event.actor_id != "" and event.actor_id in self.own_client_ids)
        )


class StateUnreadable(Exception):
    """A stored detection state could not be decoded; the detection starts that key afresh."""


class Engine:
    def __init__(
        self,
        detections: Sequence[Detection],
        context: TenantContext,
        baseline: Baseline | None = None,
        directory: DirectoryFacts | None = None,
    ) -> None:
        self.detections = tuple(detections)
        self.context = context
        self.baseline = baseline or Baseline()
        self._by_id: dict[str, Any] = {d.id: d for d in self.detections} | {Baseline.id: self.baseline}
        self.actor_keyed = frozenset(d.id for d in self.detections if d.keyed_by_actor)
        self.human_only = frozenset(d.id for d in self.detections if getattr(d, "human_only", False))
        self.signals = next((d for d in self.detections if isinstance(d, ThreatSignals)), None)
        self.reads_baseline = frozenset(d.id for d in self.detections if getattr(d, "reads_baseline", False))
        if not self.reads_baseline <= self.actor_keyed:
            raise ValueError(f"reads_baseline needs keyed_by_actor: {sorted(self.reads_baseline - self.actor_keyed)}")
        # the same object for the engine's life: an inventory that syncs changes what it answers, not the object
        self.directory = directory or NO_DIRECTORY
        # What run() asks of each detection, looked up once rather than per event: (detection, id, keyed by actor,
        # reads the baseline, its detect with the directory bound when it reads it, its state_key, its load_state);
        # the second plan leaves out the human-only ones (a listed service account's events)
        self._plan = tuple(
            (d, d.id, d.keyed_by_actor, d.id in self.reads_baseline, self._detect(d), d.state_key, d.load_state)
            for d in self.detections
        )
        self._service_plan = tuple(step for step in self._plan if step[1] not in self.human_only)
        self._plans = routing.ByEventType(self._plan, lambda step: step[0])  # each plan, by event type
        self._service_plans = routing.ByEventType(self._service_plan, lambda step: step[0])
        self._rekeyed = routing.ByEventType(d for d in self.detections if not d.keyed_by_actor)
        self.newest = 0.0  # the newest event time seen: the watermark's clock
        self.clock: Callable[[], float] = time.time

    def _detect(self, detection: Detection) -> Callable[..., list[Finding]]:
        if getattr(detection, "reads_directory", False):
            return functools.partial(detection.detect, directory=self.directory)
        return detection.detect

    def watermark(self, now: float | None = None) -> float:
        """The event time before which a state's horizon means it is dead (``detections.lifecycle``)."""
        return watermark(self.newest, self.clock() if now is None else now)

    def expires_at(self, store_key: str, state: Any) -> float | None:
        """The horizon of a stored value: an actor record's latest part, else its detection's (None: never)."""
        if isinstance(state, ActorRecord):
            state.prune(self.watermark())
            return state.expires_at()
        return self._horizon(self._by_id[store_key.split("|", 1)[0]], state)

    @staticmethod
    def _horizon(detection: Any, state: Any) -> float | None:
        expires_at = getattr(detection, "expires_at", None)
        return None if expires_at is None else expires_at(state)

    def state_of(self, states: StateStore, detection_id: str, key: str) -> Any | None:
        """The state one detection keeps under ``key``, wherever the store layout puts it (tests, tools)."""
        detection = self._by_id[detection_id]
        stored = states.get(f"{detection_id}|{key}")
        if stored is not None or not detection.keyed_by_actor:
            return stored
        own = states.get(actor_record.PREFIX + key)  # most are keyed by the actor id itself
        for value in (own, *states.values()) if own is not None else states.values():
            if (
                isinstance(value, ActorRecord)
                and (state := value.get(detection_id, key, detection.load_state)) is not None
            ):
                return state
        return None

    def _skipped(self, event: Event) -> frozenset[str]:
        """Detections this event must not reach: the human-only ones for a listed service account."""
        return self.human_only if self.context.profile.is_service_account(event) else frozenset()

    def run(self, event: Event, states: StateStore, only: Collection[str] | None = None) -> Outcome:
        """Run every detection (or those named in ``only``) whose state the event touches; ``states`` is
        updated in place.

        Isolated: a detection that raises is reported in ``failures`` and the others still run, so one
        hostile event (or one bug) never stops the stage. Its state keeps what it had written before it
        raised; a stored state that no longer decodes is started afresh and reported the same way.

        The user's baseline runs with the actor-keyed detections (in Kafka mode: in the actor's partition), as
        one more part of the actor's record: the event is judged against the profile as it was, then learned.
        When no detection reads it, it is not kept.

        The record's replay guard screens the actor-keyed detections (and the learning) as one: an event it has
        seen reaches none of them, so they run together (``only`` names all of them or none, as Kafka's by-actor
        agent does).
        """
        outcome = Outcome([], [])
        if self.context.is_own_action(event):
            return outcome
        if event.time > self.newest:
            self.newest = event.time
        plans = self._service_plans if self.context.profile.is_service_account(event) else self._plans
        plan = plans(event.event_type)
        actor_key = actor_record.PREFIX + event.actor_id
        record: ActorRecord | None = None  # the actor's record, read when a detection keyed by actor needs it
        replayed = False  # the record's guard has seen the event: no detection keyed by actor judges it again
        with_baseline = bool(self.reads_baseline) and (only is None or not self.actor_keyed.isdisjoint(only))
        profile_key = self.baseline.state_key(event) if with_baseline else None
        profile, profile_legacy = None, None
        if profile_key is not None:
            record = self._record(actor_key, states, outcome)
            replayed = record.replayed(event.uuid, event.time)
            profile, profile_legacy = self._part(record, self.baseline, profile_key, states, outcome)
        shown: dict[str, str] | None = None  # facets_of, once for the judgement and the learning, when either runs
        novelty: Novelty | None = None
        if only is not None:
            plan = tuple(step for step in plan if step[1] in only)
        for detection, detection_id, keyed_by_actor, reads_baseline, detect, state_key, load_state in plan:
            try:
                key = state_key(event)
                if key is None:
                    continue
                if keyed_by_actor:
                    if record is None:
                        record = self._record(actor_key, states, outcome)
                        replayed = record.replayed(event.uuid, event.time)
                    if replayed:
                        continue
                    state, legacy = record.get(detection_id, key, load_state), None
                    if state is None:
                        state, legacy = self._unrecorded(detection, key, states, outcome)
                    if reads_baseline:
                        if novelty is None:
                            if profile is None:
                                novelty = NOTHING_NEW
                            else:
                                shown = facets_of(event)
                                novelty = self.baseline.judge(event, profile, shown)
                        found = detect(event, state, novelty)
                    else:
                        found = detect(event, state)
                    record.put(detection_id, key, state, detection)
                    if legacy is not None:
                        del states[legacy]
                else:
                    store_key = f"{detection_id}|{key}"
                    state = self._state(detection, store_key, states, outcome)
                    found = detect(event, state)
                    states[store_key] = state
            except Exception as exc:  # isolation is the point
                outcome.failures.append(DetectionFailure(detection_id, exc))
                continue
            if found:
                outcome.findings.extend(found)
        if record is not None and profile_key is not None and profile is not None and not replayed:
            try:
                if self.baseline.learn(event, profile, shown):
                    self._put(record, self.baseline, profile_key, profile, profile_legacy, states)
            except Exception as exc:
                outcome.failures.append(DetectionFailure(Baseline.id, exc))
        if record is not None and record.changed:
            states[actor_key] = record  # dead parts are dropped when it is encoded or indexed (``expires_at``)
        if outcome.findings and self.signals is not None:
            self._flag_sources(event, outcome)
        return outcome

    def novelty(self, event: Event, states: StateStore) -> Novelty:
        """What the event shows that is new for its user, against the stored profile (tests, explanations)."""
        key = self.baseline.state_key(event)
        if key is None:
            return NOTHING_NEW
        stored = self.state_of(states, Baseline.id, key)
        return NOTHING_NEW if stored is None else self.baseline.judge(event, stored)

    def _flag_sources(self, event: Event, outcome: Outcome) -> None:
        """Threat signals: the sources of the credential attacks found on this event are flagged tenant-wide,
        which may implicate sign-ins seen earlier (detections/threat_signals.py)."""
        if self.signals is None or not outcome.findings:
            return
        try:
            outcome.findings.extend(self.signals.flagged(event, outcome.findings))
        except Exception as exc:  # isolation, as for any detection
            outcome.failures.append(DetectionFailure(self.signals.id, exc))

    def signal_received(self, signal: Signal) -> list[Finding]:
        """A signal another worker flagged (Kafka mode's ``itdr.signals``): the findings it implies here."""
        return [] if self.signals is None else self.signals.received(signal)

    def _record(self, actor_key: str, states: StateStore, outcome: Outcome) -> ActorRecord:
        try:
            record = states.get(actor_key)
        except Exception as exc:  # unreadable: every actor-keyed detection starts this actor afresh
            outcome.failures.append(DetectionFailure("engine", StateUnreadable(f"{actor_key}: {exc!r}")))
            record = None
        return record if isinstance(record, ActorRecord) else ActorRecord(actor_key[len(actor_record.PREFIX) :])

    def _part(
        self, record: ActorRecord, detection: Any, key: str, states: StateStore, outcome: Outcome
    ) -> tuple[Any, str | None]:
        """An actor-keyed state from its actor's record, and the key of the previous layout
        (``<detection>|<key>``) when it was read from there instead (to be deleted once it is in the record)."""
        state = record.get(detection.id, key, detection.load_state)
        return (state, None) if state is not None else self._unrecorded(detection, key, states, outcome)

    def _unrecorded(self, detection: Any, key: str, states: StateStore, outcome: Outcome) -> tuple[Any, str | None]:
        """A state the actor's record lacks: the previous layout's (and its key), else a new one."""
        legacy = f"{detection.id}|{key}"
        stored = self._stored(detection, legacy, states, outcome)
        return (detection.new_state(), None) if stored is None else (stored, legacy)

    def _put(
        self, record: ActorRecord, detection: Any, key: str, state: Any, legacy: str | None, states: StateStore
    ) -> None:
        record.put(detection.id, key, state, detection)
        if legacy is not None:
            del states[legacy]

    @classmethod
    def _state(cls, detection: Any, store_key: str, states: StateStore, outcome: Outcome) -> Any:
        state = cls._stored(detection, store_key, states, outcome)
        return detection.new_state() if state is None else state

    @staticmethod
    def _stored(detection: Any, store_key: str, states: StateStore, outcome: Outcome) -> Any | None:
        try:
            return states.get(store_key)
        except Exception as exc:  # e.g. a state written by an older version
            outcome.failures.append(DetectionFailure(detection.id, StateUnreadable(f"{store_key}: {exc!r}")))
            return None

    def process(self, event: Event, states: StateStore, only: Collection[str] | None = None) -> list[Finding]:
        """``run`` for callers that want a detection's exception raised (tests, benchmarks)."""
        outcome = self.run(event, states, only)
        if outcome.failures:
            raise outcome.failures[0].error
        return outcome.findings

    def routes(self, event: Event) -> dict[str, tuple[str, ...]]:
        """Where the detections not keyed by actor need this event: state key → their ids."""
        if self.context.is_own_action(event):
            return {}
        routes: dict[str, list[str]] = {}
        skipped = self._skipped(event)
        for detection in self._rekeyed(event.event_type):
            if detection.id not in skipped:
                key = detection.state_key(event)
                if key is not None:
                    routes.setdefault(key, []).append(detection.id)
        return {key: tuple(ids) for key, ids in routes.items()}

    def process_all(self, events: Iterable[Event], states: StateStore) -> list[Finding]:
        findings: list[Finding] = []
        for event in events:
            findings.extend(self.process(event, states))
        return findings

    def encode_state(self, state: DetectionState) -> bytes:
        """An actor record (its dead parts dropped) carries its own version; any other state gets ``"v"`` beside
        its fields (unless it keeps a version of its own)."""
        if isinstance(state, ActorRecord):
            state.prune(self.watermark())  # its dead parts are not written
            return orjson.dumps(state.to_dict())
        return orjson.dumps({"v": STATE_VERSION, **state.to_dict()})

    def decode_state(self, store_key: str, data: bytes) -> Any:
        """Rebuild a state object from its bytes; the key's prefix names its detection (or the actor record).
        States of the first encoding (no ``"v"``) still decode: the detections read positional rows too."""
        if store_key.startswith(actor_record.PREFIX):
            return ActorRecord.from_dict(orjson.loads(data), store_key[len(actor_record.PREFIX) :])
        detection = self._by_id[store_key.split("|", 1)[0]]
        return detection.load_state(orjson.loads(data))
