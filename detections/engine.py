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

import time
from collections.abc import Callable, Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from detections import actor_record
from detections.actor_record import ActorRecord
from detections.event import Event
from detections.finding import Finding
from detections.lifecycle import watermark
from detections.tenant_profile import TenantProfile

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

    def state_key(self, event: Event) -> str | None:
        """The state partition this event updates, or None when the event is not relevant."""

    def new_state(self) -> Any: ...

    def load_state(self, data: dict[str, Any]) -> Any: ...

    def detect(self, event: Event, state: Any) -> list[Finding]: ...

    # Optional ``expires_at(state) -> float | None``: the event time after which the state can no longer
    # contribute to a finding (its windows, suppressions and episodes are over), so the stores may delete it;
    # None (and a detection without the method) keeps it for ever.


StateStore = MutableMapping[str, Any]


@dataclass(frozen=True, slots=True)
class DetectionFailure:
    """A detection raised on an event: the event still reached every other detection."""

    detection: str
    error: BaseException = field(compare=False)

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
    def __init__(self, detections: Sequence[Detection], context: TenantContext) -> None:
        self.detections = tuple(detections)
        self.context = context
        self._by_id = {d.id: d for d in self.detections}
        self.actor_keyed = frozenset(d.id for d in self.detections if d.keyed_by_actor)
        self.human_only = frozenset(d.id for d in self.detections if getattr(d, "human_only", False))
        self.newest = 0.0  # the newest event time seen: the watermark's clock
        self.clock: Callable[[], float] = time.time

    def watermark(self, now: float | None = None) -> float:
        """The event time before which a state's horizon means it is dead (``detections.lifecycle``)."""
        return watermark(self.newest, self.clock() if now is None else now)

    def expires_at(self, store_key: str, state: Any) -> float | None:
        """The horizon of a stored value: an actor record's latest part, else its detection's (None: never)."""
        if isinstance(state, ActorRecord):
            return state.expires_at()
        return self._horizon(self._by_id[store_key.split("|", 1)[0]], state)

    @staticmethod
    def _horizon(detection: Detection, state: Any) -> float | None:
        expires_at = getattr(detection, "expires_at", None)
        return None if expires_at is None else expires_at(state)

    def state_of(self, states: StateStore, detection_id: str, key: str) -> Any | None:
        """The state one detection keeps under ``key``, wherever the store layout puts it (tests, tools)."""
        detection = self._by_id[detection_id]
        if not detection.keyed_by_actor:
            return states.get(f"{detection_id}|{key}")
        for value in states.values():
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
        """
        outcome = Outcome()
        if self.context.is_own_action(event):
            return outcome
        self.newest = max(self.newest, event.time)
        skipped = self._skipped(event)
        actor_key = actor_record.PREFIX + event.actor_id
        record: ActorRecord | None = None  # the actor's record, read when a detection keyed by actor needs it
        for detection in self.detections:
            if (only is not None and detection.id not in only) or detection.id in skipped:
                continue
            try:
                key = detection.state_key(event)
                if key is None:
                    continue
                if detection.keyed_by_actor:
                    record = record or self._record(actor_key, states, outcome)
                    found = self._detect_in(record, detection, key, event, states, outcome)
                else:
                    store_key = f"{detection.id}|{key}"
                    state = self._state(detection, store_key, states, outcome)
                    found = detection.detect(event, state)
                    states[store_key] = state
            except Exception as exc:  # isolation is the point
                outcome.failures.append(DetectionFailure(detection.id, exc))
                continue
            outcome.findings.extend(found)
        if record is not None and record.changed:
            record.prune(self.watermark())
            states[actor_key] = record
        return outcome

    def _record(self, actor_key: str, states: StateStore, outcome: Outcome) -> ActorRecord:
        try:
            record = states.get(actor_key)
        except Exception as exc:  # unreadable: every actor-keyed detection starts this actor afresh
            outcome.failures.append(DetectionFailure("engine", StateUnreadable(f"{actor_key}: {exc!r}")))
            record = None
        return record if isinstance(record, ActorRecord) else ActorRecord()

    def _detect_in(
        self, record: ActorRecord, detection: Detection, key: str, event: Event, states: StateStore, outcome: Outcome
    ) -> list[Finding]:
        """Run an actor-keyed detection on its part of the record; a state the previous layout stored under its
        own key (``<detection>|<key>``) moves into the record, and that key is deleted."""
        state = record.get(detection.id, key, detection.load_state)
        legacy = f"{detection.id}|{key}"
        stored = None if state is not None else self._stored(detection, legacy, states, outcome)
        if state is None:
            state = detection.new_state() if stored is None else stored
        found = detection.detect(event, state)
        record.put(detection.id, key, state, self._horizon(detection, state))
        if stored is not None:
            del states[legacy]
        return found

    @classmethod
    def _state(cls, detection: Detection, store_key: str, states: StateStore, outcome: Outcome) -> Any:
        state = cls._stored(detection, store_key, states, outcome)
        return detection.new_state() if state is None else state

    @staticmethod
    def _stored(detection: Detection, store_key: str, states: StateStore, outcome: Outcome) -> Any | None:
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
        for detection in self.detections:
            if not detection.keyed_by_actor and detection.id not in skipped:
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
        """An actor record carries its own version; any other state gets ``"v"`` beside its fields."""
        data = state.to_dict()
        return orjson.dumps(data if isinstance(state, ActorRecord) else {**data, "v": STATE_VERSION})

    def decode_state(self, store_key: str, data: bytes) -> Any:
        """Rebuild a state object from its bytes; the key's prefix names its detection (or the actor record).
        States of the first encoding (no ``"v"``) still decode: the detections read positional rows too."""
        if store_key.startswith(actor_record.PREFIX):
            return ActorRecord.from_dict(orjson.loads(data))
        detection = self._by_id[store_key.split("|", 1)[0]]
        return detection.load_state(orjson.loads(data))
