"""The behavioural baseline: one compact, bounded, decaying profile per user, shared by every detection.

Why: Okta's own ``debugData.behaviors`` are missing in Classic orgs, in many
event types, and UNKNOWN whenever Okta has no history, so a detection that only
reads them cannot tell a new country from the usual one. The baseline learns
from the stream itself what is usual for each user (countries, cities, ASNs,
networks, devices, user agents, hours of the day) and the engine hands every
detection that asks (``reads_baseline``) a :class:`Novelty`: what about this
event is new for the user, what the user's usual is, and whether the profile
is still learning. One profile per user replaces the copies of recent
locations and devices each detection used to keep.

Judged before learned: the engine asks for the novelty of an event against the
profile as it was, runs the detections, then learns the event. Only successful
sign-ins teach the profile; sign-ins through an anonymizer teach devices but
not places (their location is the relay's).

Okta's behaviours, when present, are combined with the profile: POSITIVE makes a
facet new even where the profile knows it (Okta may have seen an attack we did
not), NEGATIVE makes it known (Okta has history from before we started), and
UNKNOWN or absent leaves the judgement to the profile.

Bounded: each facet keeps at most ``max_values`` values (the least recently
seen is dropped), a value unseen for ``horizon_s`` is forgotten, and the hours
histogram halves once it holds ``max_hour_count`` sign-ins, so old habits fade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detections import geo
from detections.event import Event, is_successful_sign_in

DAY = 86400.0
VERSION = 2  # of the encoded profile; version 1 (the field names spelled out, every hour listed) still reads
# facet → the key it is stored under (version 2)
_FACET_KEYS = {"country": "c", "city": "ci", "asn": "a", "network": "nw", "device": "d", "agent": "ag"}
_FACETS = {key: facet for facet, key in _FACET_KEYS.items()}
MAX_VALUE = 96  # characters of a facet value kept

# facet → Okta behaviour names that speak about it (debugData.behaviors keys).
_OKTA_BEHAVIOURS: dict[str, tuple[str, ...]] = {
    "country": ("New Country",),
    "city": ("New City", "New Geo-Location"),
    "network": ("New IP",),
    "device": ("New Device",),
}
PLACES = frozenset({"country", "city", "asn", "network"})  # what a relay's sign-in says nothing about
_LABELS = {
    "country": "country",
    "city": "city",
    "asn": "network operator",
    "network": "network",
    "device": "device",
    "agent": "browser",
}


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    learning_sign_ins: int = 10  # a profile is learning until it has this many sign-ins ...
    learning_s: float = 14 * DAY  # ... spread over at least this long
    horizon_s: float = 90 * DAY  # a value unseen this long is new again
    max_values: int = 12  # per facet; the least recently seen is dropped beyond
    max_hour_count: int = 256  # the hours histogram halves when it holds this many sign-ins
    max_usual_shown: int = 3  # usual values named in an explanation


@dataclass(frozen=True, slots=True)
class Novel:
    """One facet of the event the user has not shown before (or not within the horizon)."""

    facet: str
    value: str
    usual: tuple[str, ...]  # the user's most frequent values of this facet, most frequent first
    by: str  # "baseline", "okta" or "baseline+okta": who says it is new

    def describe(self) -> str:
        usual = f"usually {', '.join(map(_shown, self.usual))}" if self.usual else "none seen before"
        source = "" if self.by == "baseline" else " (Okta behaviour)" if self.by == "okta" else ", Okta agrees"
        return f"new {_LABELS[self.facet]} {_shown(self.value)} ({usual}{source})"


def _shown(value: str) -> str:
    """A value as an analyst reads it: a 64-character device hash is told apart by its first 12."""
    return value if len(value) <= 24 else f"{value[:12]}…"


@dataclass(frozen=True, slots=True)
class Novelty:
    """What is new about one event for its user, judged against the profile before the event."""

    new: tuple[Novel, ...] = ()
    learning: bool = True
    sign_ins: int = 0
    known_s: float = 0.0  # how long the profile has watched the user
    odd_hour: bool = False  # outside every hour the user signed in at (judged only once learned)
    device_id: bool = False  # the event carries a device token (dtHash)

    def get(self, facet: str) -> Novel | None:
        for novel in self.new:  # at most a handful
            if novel.facet == facet:
                return novel
        return None

    @property
    def new_place(self) -> Novel | None:
        """The most telling new place: a country, else a city."""
        return self.get("country") or self.get("city")

    @property
    def new_network(self) -> Novel | None:
        return self.get("network") or self.get("asn")

    @property
    def new_device(self) -> Novel | None:
        """A new device token; the browser and OS only speak for the device when the event has no token."""
        return self.get("device") if self.device_id else self.get("device") or self.get("agent")

    def context(self) -> str:
        """The learning period, stated: every novelty explanation carries it."""
        days = self.known_s / DAY
        state = "learning" if self.learning else "learned"
        return f"profile {state}: {self.sign_ins} sign-in(s) over {days:.0f} day(s)"

    def explain(self, *novels: Novel | None) -> str:
        parts = [n.describe() for n in novels if n is not None]
        return f"{'; '.join(parts)} [{self.context()}]"


NOTHING_NEW = Novelty()


@dataclass(slots=True)
class Profile:
    first_seen: float | None = None
    last_seen: float = 0.0
    sign_ins: int = 0
    seen: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # facet → value → [last seen, count]
    hours: list[int] = field(default_factory=lambda: [0] * 24)

    def to_dict(self) -> dict[str, Any]:
        """Version 2: ``{"f": first, "l": last, "n": sign-ins, "s": {facet key: {value: count, or [last seen,
        count] when not last seen at the profile's last}}, "h": {hour: sign-ins} (those with any)}``."""
        last = self.last_seen
        return {
            "v": VERSION,
            "f": self.first_seen,
            "l": last,
            "n": self.sign_ins,
            "s": {
                _FACET_KEYS.get(facet, facet): {
                    k: _count(v[1]) if v[0] == last else [v[0], _count(v[1])] for k, v in values.items()
                }
                for facet, values in self.seen.items()
            },
            "h": {str(hour): n for hour, n in enumerate(self.hours) if n},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        version = data.get("v")
        if version == 1:
            seen = {
                str(facet): {str(k): [float(v[0]), float(v[1])] for k, v in values.items()}
                for facet, values in data["seen"].items()
            }
            hours = [int(h) for h in data["hours"]][:24]
            return cls(data["first"], float(data["last"]), int(data["n"]), seen, hours + [0] * (24 - len(hours)))
        if version != VERSION:
            raise ValueError(f"baseline profile version {version!r}, expected 1 or {VERSION}")
        last = float(data["l"])
        seen = {
            _FACETS.get(key, str(key)): {
                str(k): [float(v[0]), float(v[1])] if isinstance(v, list) else [last, float(v)]
                for k, v in values.items()
            }
            for key, values in data["s"].items()
        }
        hours = [0] * 24
        for hour, n in data["h"].items():
            if 0 <= int(hour) < 24:
                hours[int(hour)] = int(n)
        return cls(data["f"], last, int(data["n"]), seen, hours)


def _count(n: float) -> float | int:
    """A count as it reads shortest: 16, not 16.0 (read back as a float)."""
    n = float(n)
    return int(n) if n.is_integer() else n


def facets_of(event: Event) -> dict[str, str]:
    """The facet values an event shows; absent ones are left out. Each is cut to ``MAX_VALUE`` characters:
    the strings are the sign-in's (a user agent, a city), and a profile must stay small whatever they are."""
    out: dict[str, str] = {}
    if event.geo.country:
        out["country"] = event.geo.country[:MAX_VALUE]
        if event.geo.city:
            out["city"] = f"{event.geo.city}, {event.geo.country}"[:MAX_VALUE]
    if event.asn is not None:
        out["asn"] = f"AS{event.asn}"  # the number only: Okta spells one operator's name several ways
    if (network := geo.network_of(event.ip)) is not None:
        out["network"] = network
    if event.dt_hash:
        out["device"] = event.dt_hash[:MAX_VALUE]
    browser, os = event.ua_browser, event.ua_os
    if browser or os:
        out["agent"] = f"{browser or '?'} on {os or '?'}"[:MAX_VALUE]
    return out


class Baseline:
    """Keeps the profiles (as the part ``baseline`` of the user's actor record) and judges events against them."""

    id: ClassVar[str] = "baseline"
    keyed_by_actor: ClassVar[bool] = True

    def __init__(self, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()

    def state_key(self, event: Event) -> str | None:
        return event.actor_id if event.is_human and event.actor_id else None

    def new_state(self) -> Profile:
        return Profile()

    def load_state(self, data: dict[str, Any]) -> Profile:
        return Profile.from_dict(data)

    def expires_at(self, profile: Profile) -> float:
        """``horizon_s`` after the user's last sign-in every value the profile holds is new again: it is
        forgotten (a user back after that long starts learning afresh)."""
        return profile.last_seen + self.config.horizon_s if profile.sign_ins else -math.inf

    def learning(self, profile: Profile, at: float) -> bool:
        cfg = self.config
        known = 0.0 if profile.first_seen is None else at - profile.first_seen
        return profile.sign_ins < cfg.learning_sign_ins or known < cfg.learning_s

    def judge(self, event: Event, profile: Profile, shown: dict[str, str] | None = None) -> Novelty:
        """The novelty of ``event`` against ``profile`` (not changed); ``shown``: its facets_of, if at hand."""
        cfg = self.config
        learning = self.learning(profile, event.time)
        known_s = 0.0 if profile.first_seen is None else max(0.0, event.time - profile.first_seen)
        new: list[Novel] = []
        shown = facets_of(event) if shown is None else shown
        behaviors = event.behaviors
        if behaviors:
            for facet in _OKTA_BEHAVIOURS.keys() - shown.keys():  # Okta's word on a facet the event does not show
                if self._okta(event, facet):
                    new.append(Novel(facet, "(per Okta)", self._usual(profile.seen.get(facet, {}), ""), "okta"))
        seen, learned, floor = profile.seen, profile.sign_ins > 0, event.time - cfg.horizon_s
        for facet, value in shown.items():
            values = seen.get(facet)
            entry = None if values is None else values.get(value)
            mine = learned and (entry is None or entry[0] < floor)
            okta = self._okta(event, facet) if behaviors and facet in _OKTA_BEHAVIOURS else None
            if okta is False or not (mine or okta):
                continue
            values = {} if values is None else values
            by = "baseline+okta" if mine and okta else "baseline" if mine else "okta"
            new.append(Novel(facet, value, self._usual(values, value), by))
        odd = False
        if not learning:
            hour = int(event.time // 3600) % 24
            odd = not any(profile.hours[(hour + d) % 24] for d in (-1, 0, 1))  # an hour either side is usual
        return Novelty(tuple(new), learning, profile.sign_ins, known_s, odd, bool(event.dt_hash))

    def learn(self, event: Event, profile: Profile, shown: dict[str, str] | None = None) -> bool:
        """Teach ``profile`` a successful sign-in; True when it changed. ``shown``: its facets_of, if at hand."""
        if not is_successful_sign_in(event):
            return False
        cfg = self.config
        profile.sign_ins += 1
        profile.first_seen = event.time if profile.first_seen is None else min(profile.first_seen, event.time)
        profile.last_seen = max(profile.last_seen, event.time)
        time, seen, proxy = event.time, profile.seen, event.is_proxy
        floor = profile.last_seen - cfg.horizon_s
        for facet, value in (facets_of(event) if shown is None else shown).items():
            if proxy and facet in PLACES:
                continue
            values = seen.get(facet)
            if values is None:
                values = seen[facet] = {}
            entry = values.get(value)
            if entry is None:
                values[value] = [time, 1.0]
            else:
                entry[0] = max(entry[0], time)
                entry[1] += 1
            # over the cap, or the oldest [last seen, count] past the horizon (one scan in C): usually neither
            if len(values) > cfg.max_values or min(values.values())[0] < floor:
                self._bound(values, profile.last_seen)
        profile.hours[int(event.time // 3600) % 24] += 1
        if sum(profile.hours) >= cfg.max_hour_count:
            profile.hours = [h // 2 for h in profile.hours]
        return True

    def _bound(self, values: dict[str, list[float]], newest: float) -> None:
        cfg = self.config
        floor = newest - cfg.horizon_s
        for value in [v for v, (last, _) in values.items() if last < floor]:
            del values[value]
        while len(values) > cfg.max_values:
            del values[min(values, key=lambda v: values[v][0])]

    def _usual(self, values: dict[str, list[float]], but: str) -> tuple[str, ...]:
        ranked = sorted((v for v in values if v != but), key=lambda v: -values[v][1])
        return tuple(ranked[: self.config.max_usual_shown])

    @staticmethod
    def _okta(event: Event, facet: str) -> bool | None:
        """Okta's word on the facet: True (POSITIVE), False (NEGATIVE), None (UNKNOWN, absent)."""
        verdict = None
        for name in _OKTA_BEHAVIOURS.get(facet, ()):  # asked per facet of most events: no list
            said = event.behaviors.get(name)
            if said == "POSITIVE":
                return True
            if said == "NEGATIVE":
                verdict = False
        return verdict
