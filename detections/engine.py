"""The detection engine: explicit state in, findings out.

A detection is a pure object: ``state_key`` says which state an event touches
(usually the user), ``detect`` reads the event and that state, updates the
state and returns findings. The engine owns nothing but the list of detections;
the caller owns the state store, which is a plain dict in tests, a SQLite-backed
cache in embedded mode and a Faust table in Kafka mode.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from detections.baseline import NOTHING_NEW, Baseline, Novelty, facets_of
from detections.event import Event
from detections.finding import Finding
from detections.tenant_profile import TenantProfile
from detections.threat_signals import Signal, ThreatSignals


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

    def state_key(self, event: Event) -> str | None:
        """The state partition this event updates, or None when the event is not relevant."""

    def new_state(self) -> Any: ...

    def load_state(self, data: dict[str, Any]) -> Any: ...

    def detect(self, event: Event, state: Any) -> list[Finding]: ...


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
    def __init__(
        self, detections: Sequence[Detection], context: TenantContext, baseline: Baseline | None = None
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

    def _skipped(self, event: Event) -> frozenset[str]:
        """Detections this event must not reach: the human-only ones for a listed service account."""
        return self.human_only if self.context.profile.is_service_account(event) else frozenset()

    def run(self, event: Event, states: StateStore, only: Collection[str] | None = None) -> Outcome:
        """Run every detection (or those named in ``only``) whose state the event touches; ``states`` is
        updated in place.

        Isolated: a detection that raises is reported in ``failures`` and the others still run, so one
        hostile event (or one bug) never stops the stage. Its state keeps what it had written before it
        raised; a stored state that no longer decodes is started afresh and reported the same way.

        The user's baseline runs with the actor-keyed detections (in Kafka mode: in the actor's partition):
        the event is judged against the profile as it was, then learned. No detection reads it: it is not kept.
        """
        outcome = Outcome()
        if self.context.is_own_action(event):
            return outcome
        skipped = self._skipped(event)
        with_baseline = bool(self.reads_baseline) and (only is None or not self.actor_keyed.isdisjoint(only))
        profile_key = self._profile_key(event) if with_baseline else None
        profile = None if profile_key is None else self._state(self.baseline, profile_key, states, outcome)
        shown = None if profile is None else facets_of(event)  # once, for the judgement and the learning
        novelty: Novelty | None = None
        for detection in self.detections:
            if (only is not None and detection.id not in only) or detection.id in skipped:
                continue
            try:
                key = detection.state_key(event)
                if key is None:
                    continue
                store_key = f"{detection.id}|{key}"
                state = self._state(detection, store_key, states, outcome)
                if detection.id in self.reads_baseline:
                    if novelty is None:
                        novelty = NOTHING_NEW if profile is None else self.baseline.judge(event, profile, shown)
                    found = detection.detect(event, state, novelty)  # type: ignore[call-arg]
                else:
                    found = detection.detect(event, state)
                states[store_key] = state
            except Exception as exc:  # isolation is the point
                outcome.failures.append(DetectionFailure(detection.id, exc))
                continue
            outcome.findings.extend(found)
        if profile_key is not None and profile is not None:
            try:
                if self.baseline.learn(event, profile, shown):
                    states[profile_key] = profile
            except Exception as exc:
                outcome.failures.append(DetectionFailure(Baseline.id, exc))
        self._flag_sources(event, outcome)
        return outcome

    def _profile_key(self, event: Event) -> str | None:
        key = self.baseline.state_key(event)
        return None if key is None else f"{Baseline.id}|{key}"

    def novelty(self, event: Event, states: StateStore) -> Novelty:
        """What the event shows that is new for its user, against the stored profile (tests, explanations)."""
        key = self._profile_key(event)
        stored = None if key is None else states.get(key)
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

    @staticmethod
    def _state(detection: Any, store_key: str, states: StateStore, outcome: Outcome) -> Any:
        try:
            state = states.get(store_key)
        except Exception as exc:  # e.g. a state written by an older version
            outcome.failures.append(DetectionFailure(detection.id, StateUnreadable(f"{store_key}: {exc!r}")))
            state = None
        return detection.new_state() if state is None else state

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
        return orjson.dumps(state.to_dict())

    def decode_state(self, store_key: str, data: bytes) -> Any:
        """Rebuild a state object from its bytes; the key's prefix names its detection."""
        detection = self._by_id[store_key.split("|", 1)[0]]
        return detection.load_state(orjson.loads(data))
