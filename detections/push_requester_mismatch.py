"""Push requester ≠ responder: an Okta Verify prompt requested from one network and answered from an unrelated one.

Why: a push is *requested* by the sign-in that typed the password (the
``system.push.send_factor_verify_push`` event carries that client: IP, ASN,
country and Okta's New Device/New Geo-Location behaviors) and *answered* on
the user's phone (the ``auth_via_mfa`` Okta Verify event carries the phone's
network). When the password is the attacker's, the two ends sit on unrelated
networks. Okta's own push-spam logic and Splunk's "Mismatch Between Source and
Response" key on this.

Relation to mfa_fatigue: mfa_fatigue counts pressure (denials, timeouts) and
its ``mfa_push_accepted`` already scores requester ≠ responder (+20) on the
accept that ends a bombing run. This detection is the same signal standing
alone, so it fires without a run: the attacker whose *first* prompt is
accepted, or a mismatched pair that repeats. An accept that ends a run
(≥ mfa_fatigue's ``accept_min_denials`` within its ``accept_window_s``) is
left to ``mfa_push_accepted``, so one accept never pages twice.

How (per user):

* pairing: each answer (accept, deny, wrong number; Classic ``okta_verify`` /
  ``deny_push``) with its prompt by ``debugData.authnRequestId``, else
  ``externalSessionId``, else the latest prompt ≤ ``pair_window_s`` before it.
  Unanswered prompts have no responder. One prompt is logged once per
  enrolled device: prompts ≤ 2 s apart count once;
* unrelated: another IP, not the same /24, not the same ASN, **and** the
  requester carries a sign of not being the user (Okta New Device or New
  Geo-Location/Country POSITIVE, anonymizer, ThreatInsight) or sits in another
  country than the phone (not when the phone is on a mobile carrier: roaming
  egress is home-routed). Without that it is the laptop on Wi-Fi and the phone
  on LTE, which is every day;
* ``push_requester_mismatch`` (high; medium when dampened below 60): a
  mismatched accept: accept +35 (c), requester ≠ responder +20 (c), new geo
  +15, new device +10, another country +15 (b), anonymizer / ThreatInsight +15
  (d), earlier mismatched answers from that requester +20 (a). Offered: clear
  sessions + expire password (the requester holds the password and now a
  session), at high confidence only;
* ``push_requester_mismatch_repeated`` (medium): ≥ ``min_repeats`` mismatched
  refusals (deny, wrong number) of prompts from one requester network within
  ``repeat_window_s``: pattern +20 (a) and the requester's signals. No action
  (nobody got in; an accept is the high variant above);
* dampeners: one side on a mobile carrier while the requesting device is not
  new −20; allowlisted corporate VPN/SWG egress on either side −40.

Event-time windows with a lateness margin; a late prompt re-pairs the answers
already held. One accepted finding per user per hour; the repeated refusals of
one requester network stay one finding until they pause for an hour, revised
as their count doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from detections import geo
from detections.baseline import Novelty
from detections.columns import columns, rows
from detections.common import Suppression, is_mobile_carrier, make_finding, requester_signals
from detections.confidence import Action, Dampener, Evidence, EvidenceClass, assess
from detections.event import PUSH_EVENT_TYPES, Event, PushResponse
from detections.finding import Finding, Severity
from detections.lifecycle import horizon
from detections.mfa_fatigue import PRESSURE, MfaFatigueConfig
from detections.window import Episode, Window

ANSWERS = frozenset({PushResponse.ACCEPT, PushResponse.DENY, PushResponse.WRONG_NUMBER})
REFUSALS = frozenset({PushResponse.DENY, PushResponse.WRONG_NUMBER})
PROMPTS = frozenset({PushResponse.SENT})
SKEW_S = 2.0  # a prompt may be logged this long after its answer


@dataclass(frozen=True, slots=True)
class PushRequesterMismatchConfig:
    pair_window_s: float = 300.0  # an Okta Verify prompt is answerable for 5 min
    fanout_s: float = 2.0  # one prompt per enrolled device: prompts this close are one (Okta, Splunk: 2 s)
    repeat_window_s: float = 3600.0
    min_repeats: int = 2  # mismatched answers to one requester network within the window
    new_geo_points: int = 15
    new_device_points: int = 10
    other_country_points: int = 15
    mobile_carrier_dampening: int = 20
    allowlist_cidrs: tuple[str, ...] = ()  # corporate VPN / SWG egress
    allowlist_asns: frozenset[int] = frozenset()
    allowlist_dampening: int = 40
    min_confidence: int = 35  # below Medium a lone mismatch is noise
    suppress_s: float = 3600.0
    lateness_s: float = 900.0
    max_entries: int = 256


@dataclass(slots=True)
class _Push:
    COLUMNS: ClassVar[tuple[str, ...]] = ("t", "id", "kd", "ip", "as", "org", "c", "sg", "au", "s", "w")
    time: float
    uuid: str
    kind: str  # a PushResponse value
    ip: str | None
    asn: int | None
    as_org: str | None
    country: str | None
    signals: str  # on prompts, the requester's (common.requester_signals): G new place, N new network, D new device,
    # P anonymizer, T threat suspected
    authn: str | None  # debugData.authnRequestId
    session: str | None  # externalSessionId
    why: str = ""  # on prompts: what was new for the user about the requester, and the user's usual

    @property
    def key(self) -> str:
        return self.uuid

    def network(self) -> str:
        return f"AS{self.asn}" if self.asn is not None else str(self.ip)

    def where(self) -> str:
        return f"{self.ip} ({self.network()}, {self.country or '?'})"


@dataclass(slots=True)
class PushPairs:
    entries: Window[_Push]  # prompts and answers
    sup: Suppression  # the accepted variant: once per user per hour
    repeats: dict[str, Episode]  # requester network → the repeated refusals reported and still going on
    checked: dict[str, int]  # requester network → ``added`` when its last evaluation fell short
    added: int = 0  # entries ever added: the clock the re-evaluation gate runs on

    def to_dict(self) -> dict[str, Any]:
        return {
            "e": columns(_Push, self.entries),
            "h": self.entries.high_water,
            "sup": self.sup.to_dict(),
            "r": {network: e.to_dict() for network, e in self.repeats.items()},
            "c": dict(self.checked),
            "n": self.added,
        }


# A requester network alone (N) is no mismatch: the laptop on a new Wi-Fi, the phone on LTE, is normal.
_MISMATCH_SIGNALS = frozenset("GDPT")


@dataclass(frozen=True, slots=True)
class _Pair:
    prompt: _Push
    answer: _Push
    other_country: bool


class PushRequesterMismatch:
    id: ClassVar[str] = "push_requester_mismatch"
    event_types: ClassVar[frozenset[str] | None] = PUSH_EVENT_TYPES
    keyed_by_actor: ClassVar[bool] = True
    human_only: ClassVar[bool] = True  # a person's sign-in and factors: listed service accounts are skipped
    reads_baseline: ClassVar[bool] = True  # is the requester new for the user?
    mitre: ClassVar[tuple[str, ...]] = ("T1621", "T1078.004")

    def __init__(
        self, config: PushRequesterMismatchConfig | None = None, fatigue: MfaFatigueConfig | None = None
    ) -> None:
        self.config = config or PushRequesterMismatchConfig()
        self.fatigue = fatigue or MfaFatigueConfig()  # whose accepted-after-bombing variant we defer to

    def state_key(self, event: Event) -> str | None:
        if event.push is None or not event.actor_id or not event.is_human:
            return None
        return event.actor_id

    def new_state(self) -> PushPairs:
        return self.load_state({"e": [], "h": 0.0, "sup": {}, "r": {}, "c": {}, "n": 0})

    def load_state(self, data: dict[str, Any]) -> PushPairs:
        cfg = self.config
        width = max(cfg.pair_window_s, cfg.repeat_window_s, self.fatigue.accept_window_s) + cfg.lateness_s
        entries = Window(width, cfg.max_entries, rows(_Push, data["e"]), data["h"])
        repeats = {network: Episode.from_dict(e) for network, e in data["r"].items()}
        return PushPairs(
            entries,
            Suppression.from_dict(data["sup"]),
            {n: e for n, e in repeats.items() if e is not None},
            dict(data["c"]),
            data["n"],
        )

    def expires_at(self, state: PushPairs) -> float:
        """Prompts and answers, the repeated refusals under way, and the suppression."""
        cfg = self.config
        repeats = (e.expires_at(cfg.suppress_s) for e in state.repeats.values())
        return horizon(state.entries.expires_at(), *repeats, state.sup.expires_at(cfg.suppress_s))

    def detect(self, event: Event, state: PushPairs, novelty: Novelty) -> list[Finding]:
        cfg = self.config
        if state.entries.too_late(event.time) or state.entries.holds(event.uuid):
            return []  # later than any window we hold, or replayed
        assert event.push is not None
        signals, why = requester_signals(event, novelty) if event.push is PushResponse.SENT else ("", "")
        new = _Push(
            event.time,
            event.uuid,
            event.push.value,
            event.ip,
            event.asn,
            event.as_org,
            event.geo.country,
            signals,
            str(event.debug.get("authnrequestid") or "") or None,
            event.session_id,
            why,
        )
        if new.kind == PushResponse.SENT and any(
            e.kind == PushResponse.SENT and (e.authn == new.authn or None in (e.authn, new.authn))
            for e in state.entries.between(new.time - cfg.fanout_s, new.time + cfg.fanout_s)
        ):
            return []  # the same prompt, logged for another enrolled device
        state.entries.add(new)
        state.added += 1

        if new.kind in ANSWERS:
            answers = [new]
        elif new.kind == PushResponse.SENT:  # a late prompt: the answers it may belong to
            answers = self._between(state, new.time - SKEW_S, new.time + cfg.pair_window_s, ANSWERS)
        else:
            answers = []
        findings: list[Finding] = []
        for answer in answers:
            pair = self._pair(state, answer)
            if pair is None:
                continue
            if answer.kind == PushResponse.ACCEPT:
                findings += self._accepted(event, state, pair)
            else:
                findings += self._repeated(event, state, pair)
        return findings

    # -- pairing --

    @staticmethod
    def _between(state: PushPairs, start: float, end: float, kinds: frozenset[str]) -> list[_Push]:
        """Entries of these kinds with start <= time <= end, in time order."""
        return [e for e in state.entries.between(start, end) if e.kind in kinds]

    def _prompt_of(self, state: PushPairs, answer: _Push) -> _Push | None:
        """The prompt this answer answers: same authnRequestId, else same session, else the latest before it.
        Searched from the latest back, so the usual case (the prompt just before) costs one look."""
        candidates = self._between(state, answer.time - self.config.pair_window_s, answer.time + SKEW_S, PROMPTS)
        authn, session = answer.authn, answer.session
        for e in reversed(candidates):  # same authnRequestId
            if e.authn is not None and e.authn == authn:
                return e
        for e in reversed(candidates):  # else same session, when one side has no authnRequestId
            if e.session is not None and e.session == session and None in (e.authn, authn):
                return e
        for e in reversed(candidates):  # else the latest, when neither id can tell
            if None in (e.authn, authn) and None in (e.session, session):
                return e
        return None

    def _pair(self, state: PushPairs, answer: _Push) -> _Pair | None:
        """The answer with its prompt when the two sit on unrelated networks (see the module docstring)."""
        prompt = self._prompt_of(state, answer)
        if prompt is None or not prompt.ip or not answer.ip or prompt.ip == answer.ip:
            return None
        if geo.same_prefix(prompt.ip, answer.ip) or (prompt.asn is not None and prompt.asn == answer.asn):
            return None
        other_country = bool(
            prompt.country
            and answer.country
            and prompt.country != answer.country
            and not is_mobile_carrier(answer.as_org)
        )
        if not (set(prompt.signals) & _MISMATCH_SIGNALS) and not other_country:
            return None  # the laptop on one network, the phone on another: normal
        return _Pair(prompt, answer, other_country)

    def _pairs_from(
        self, state: PushPairs, network: str, start: float, end: float, kinds: frozenset[str] = ANSWERS
    ) -> list[_Pair]:
        """Mismatched answers of these kinds in [start, end] to prompts from one requester network."""
        pairs = []
        for answer in self._between(state, start, end, kinds):
            pair = self._pair(state, answer)
            if pair is not None and pair.prompt.network() == network:
                pairs.append(pair)
        return pairs

    # -- variants --

    def _accepted(self, event: Event, state: PushPairs, pair: _Pair) -> list[Finding]:
        cfg = self.config
        accept = pair.answer
        window = self.fatigue.accept_window_s
        pressure = self._between(state, accept.time - window, accept.time, PRESSURE)
        if len(pressure) >= self.fatigue.accept_min_denials:
            return []  # the accept ends a bombing run: mfa_push_accepted reports it, with this mismatch in it
        earlier = [
            p
            for p in self._pairs_from(state, pair.prompt.network(), accept.time - cfg.repeat_window_s, accept.time)
            if p.answer.uuid != accept.uuid
        ]
        evidence = [
            Evidence(
                EvidenceClass.ACCESS,
                "push accepted: whoever requested it now holds a session",
                35,
                (accept.uuid,),
            ),
            Evidence(
                EvidenceClass.ACCESS,
                f"push requested from {pair.prompt.where()}, answered from unrelated {accept.where()}",
                20,
                (pair.prompt.uuid, accept.uuid),
            ),
            *self._requester_evidence([pair]),
        ]
        if len(earlier) + 1 >= cfg.min_repeats:
            evidence.append(
                Evidence(
                    EvidenceClass.ATTACK_PATTERN,
                    f"{len(earlier)} earlier prompt(s) from {pair.prompt.network()} answered from unrelated networks",
                    20,
                    tuple(p.answer.uuid for p in earlier),
                )
            )
        assessment = assess(
            evidence, self._dampeners([*earlier, pair]), (Action.CLEAR_SESSIONS, Action.EXPIRE_PASSWORD)
        )
        if assessment.score < cfg.min_confidence or state.sup.suppressed("accepted", accept.time, cfg.suppress_s):
            return []
        state.sup.fire("accepted", accept.time)
        return [
            make_finding(
                event,
                detection=self.id,
                title="Push accepted from a network unrelated to the sign-in that requested it",
                severity=Severity.HIGH if assessment.score >= 60 else Severity.MEDIUM,  # dampened: an alert
                assessment=assessment,
                anchor=(accept.uuid,),
                event_uuids=tuple(x for p in [*earlier, pair] for x in (p.prompt.uuid, p.answer.uuid)),
                mitre=self.mitre,
                time=accept.time,
                summary=f"{event.actor_login}: push requested from {pair.prompt.where()} and accepted from"
                f" {accept.where()}",
            )
        ]

    def _repeated(self, event: Event, state: PushPairs, pair: _Pair) -> list[Finding]:
        """Refused prompts (deny, wrong number) from one requester network, answered from unrelated ones.

        Once reported, the refusals that follow are tallied on the episode (O(1) each) and the finding is
        revised as they double. Before that, the search for a run is redone only when the entries around
        the answer were renewed by a sixteenth since it last fell short, so a flood costs amortised O(1) per
        event.
        """
        cfg = self.config
        network = pair.prompt.network()
        t = pair.answer.time
        span = cfg.repeat_window_s
        episode = state.repeats.get(network)
        if episode is not None and episode.ongoing(t, cfg.suppress_s):
            episode.add(pair.answer.uuid, t, ("n", *(f"sig:{x}" for x in pair.prompt.signals)))
            return self._repeated_finding(event, episode, network, [pair], self._dampeners([pair]))
        last = state.checked.get(network)
        if last is not None and state.added - last < max(1, state.entries.count(t - span, t + span) // 16):
            return []
        near = self._pairs_from(state, network, t - span, t + span, REFUSALS)
        best: list[_Pair] = []
        j = 0
        for i, last_pair in enumerate(near):  # the largest run within one span that holds this answer
            while last_pair.answer.time - near[j].answer.time > span:
                j += 1
            run = near[j : i + 1]
            if run[0].answer.time <= t <= last_pair.answer.time and len(run) > len(best):
                best = run
        if len(best) >= cfg.min_repeats and not state.sup.suppressed("repeated", best[0].answer.time, cfg.suppress_s):
            first = best[0].answer
            episode = Episode(first.uuid, first.time, best[-1].answer.time, 0)
            for p in best:
                episode.add(p.prompt.uuid, p.prompt.time)
                episode.add(p.answer.uuid, p.answer.time, ("n", *(f"sig:{x}" for x in p.prompt.signals)))
            found = self._repeated_finding(event, episode, network, best, self._dampeners(best))
            if found:
                state.sup.fire("repeated", first.time)
                state.repeats = {n: e for n, e in state.repeats.items() if e.ongoing(t, cfg.suppress_s)}
                state.repeats[network] = episode
                state.checked.pop(network, None)
                return found
        state.checked[network] = state.added
        if len(state.checked) > 32:  # bounded: drop the oldest-inserted network
            del state.checked[next(iter(state.checked))]
        return []

    def _repeated_finding(
        self, event: Event, episode: Episode, network: str, pairs: list[_Pair], dampeners: list[Dampener]
    ) -> list[Finding]:
        cfg = self.config
        count = episode.count("n")
        minutes = (episode.last - episode.start) / 60
        within = (
            f"within {cfg.repeat_window_s / 60:g} min"
            if minutes <= cfg.repeat_window_s / 60
            else f"in {minutes:.0f} min"
        )
        evidence = [
            Evidence(
                EvidenceClass.ATTACK_PATTERN,
                f"{count} prompts requested from {network} answered from unrelated networks {within}",
                20,
                tuple(episode.uuids),
            ),
            *self._requester_evidence(pairs),
        ]
        assessment = assess(evidence, dampeners)
        if assessment.score < cfg.min_confidence or not episode.grown(count, episode.tier or assessment.tier.value):
            return []
        return [
            make_finding(
                event,
                detection=f"{self.id}_repeated",
                title="Push prompts repeatedly answered from a network unrelated to the requester",
                severity=Severity.MEDIUM,
                assessment=assessment,
                anchor=(episode.anchor,),
                event_uuids=tuple(episode.uuids),
                mitre=self.mitre,
                time=episode.last,
                summary=f"{event.actor_login}: {count} prompts requested from {pairs[-1].prompt.where()}"
                f" answered from {pairs[-1].answer.where()}",
                revision=episode.reported_as(count, episode.tier or assessment.tier.value),
            )
        ]

    # -- scoring pieces --

    def _requester_evidence(self, pairs: list[_Pair]) -> list[Evidence]:
        cfg = self.config
        table = (
            ("G", EvidenceClass.ANOMALY, "requested from a place new for the user", cfg.new_geo_points),
            ("D", EvidenceClass.ANOMALY, "requested from a device new for the user", cfg.new_device_points),
            ("P", EvidenceClass.INFRASTRUCTURE, "requested through an anonymizing proxy", 15),
            ("T", EvidenceClass.INFRASTRUCTURE, "Okta ThreatInsight suspected the requesting IP", 15),
        )
        evidence = []
        for letter, cls, label, points in table:
            shown = [p.prompt for p in pairs if letter in p.prompt.signals]
            if shown:
                why = next((x.why for x in reversed(shown) if x.why), "") if letter in "GD" else ""
                uuids = tuple(dict.fromkeys(x.uuid for x in shown))
                evidence.append(Evidence(cls, f"{label}: {why}" if why else label, points, uuids))
        far = [p for p in pairs if p.other_country]
        if far:
            evidence.append(
                Evidence(
                    EvidenceClass.ANOMALY,
                    f"requested from {far[-1].prompt.country}, answered on the phone in {far[-1].answer.country}",
                    cfg.other_country_points,
                    tuple(dict.fromkeys(x for p in far for x in (p.prompt.uuid, p.answer.uuid))),
                )
            )
        return evidence

    def _dampeners(self, pairs: list[_Pair]) -> list[Dampener]:
        cfg = self.config
        dampeners = []
        new_device = any("D" in p.prompt.signals for p in pairs)
        carrier = any(is_mobile_carrier(p.prompt.as_org) or is_mobile_carrier(p.answer.as_org) for p in pairs)
        if carrier and not new_device:
            dampeners.append(
                Dampener(
                    "a mobile carrier on one side and a known requesting device (phone on LTE, laptop on Wi-Fi)",
                    cfg.mobile_carrier_dampening,
                )
            )
        ends = [x for p in pairs for x in (p.prompt, p.answer)]
        if any(
            geo.ip_in(x.ip, cfg.allowlist_cidrs) or (x.asn is not None and x.asn in cfg.allowlist_asns) for x in ends
        ):
            dampeners.append(Dampener("allowlisted corporate VPN/SWG egress on one side", cfg.allowlist_dampening))
        return dampeners
