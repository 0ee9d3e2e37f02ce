"""The tenant's context, stated once: merged into every detection's allowlists, service accounts skipped by the
engine for human-only detections but still counted as credential-attack targets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.impossible_travel import ImpossibleTravelConfig
from detections.registry import DetectionSettings, build_detections
from detections.tenant_profile import TenantProfile, operator_key
from detections.testkit import failed_sign_in, push_bombing, sign_in

T0 = 1_700_000_000.0
HOUR = 3600.0
SVC = {"user": "00usvcbackup", "login": "svc-backup@acme.com"}
HUMAN_ONLY = {"mfa_push_bombing", "mfa_push_accepted", "impossible_travel", "anonymizer_signin", "session_hijack"}
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"


def run(raws, profile: TenantProfile | None = None):
    profile = profile or TenantProfile()
    engine = Engine(build_detections(profile=profile), TenantContext("acme", profile=profile))
    return engine.process_all((parse_event(r, "acme") for r in raws), {})


def configs(profile: TenantProfile, settings: DetectionSettings | None = None) -> dict[str, object]:
    return {d.id: d.config for d in build_detections(settings, profile)}  # type: ignore[attr-defined]


# -- the profile itself --------------------------------------------------------------------------------------------


def test_users_and_operators_are_normalised():
    profile = TenantProfile(
        vpn_operators=frozenset({"NordVPN", "zscaler"}),
        known_travellers=frozenset({"CEO@Acme.com", " 00uCEO "}),
        service_accounts=frozenset({"SVC-Backup@acme.com"}),
    )
    assert profile.vpn_operators == {"NORDVPN", "ZSCALER"}
    assert operator_key("NORD_VPN") == operator_key("Nord VPN") == operator_key("nord-vpn") == "NORDVPN"
    assert profile.known_travellers == {"ceo@acme.com", "00uceo"}
    assert profile.is_service_account(parse_event(sign_in(T0, **SVC), "acme"))
    assert profile.is_service_account(parse_event(sign_in(T0, user="00uX", login="svc-backup@ACME.com"), "acme"))
    assert not profile.is_service_account(parse_event(sign_in(T0), "acme"))
    by_id = TenantProfile(service_accounts=frozenset({"00uSVCBACKUP"}))
    assert by_id.is_service_account(parse_event(sign_in(T0, user="00usvcbackup", login="other"), "acme"))


def test_egress_is_merged_into_every_allowlist_and_per_detection_values_are_kept():
    profile = TenantProfile(
        egress_cidrs=("198.51.100.0/24",),
        egress_asns=frozenset({53813}),
        vpn_operators=frozenset({"ZSCALER"}),
        known_travellers=frozenset({"ceo@acme.com"}),
    )
    own = replace(DetectionSettings(), impossible_travel=ImpossibleTravelConfig(allowlist_cidrs=("10.0.0.0/8",)))
    got = configs(profile, own)
    travel = got["impossible_travel"]
    assert travel.allowlist_cidrs == ("10.0.0.0/8", "198.51.100.0/24")
    assert travel.allowlist_asns == {53813} and travel.allowlist_operators == {"ZSCALER"}
    assert travel.known_travellers == {"ceo@acme.com"}
    assert got["anonymizer_signin"].allowlist_cidrs == ("198.51.100.0/24",)
    assert got["anonymizer_signin"].allowlist_asns == {53813}
    assert got["anonymizer_signin"].allowlist_operators == {"ZSCALER"}
    assert got["session_hijack"].allowlist_cidrs == ("198.51.100.0/24",)
    assert got["session_hijack"].allowlist_asns == {53813}
    assert got["success_after_credential_attack"].allowlist_cidrs == ("198.51.100.0/24",)
    assert got["success_after_credential_attack"].allowlist_asns == {53813}
    # spray is silenced outright by a match: only the tenant's own addresses, never a shared ASN or VPN service
    assert got["password_spray"].allowlist_cidrs == ("198.51.100.0/24",)
    assert not hasattr(got["password_spray"], "allowlist_asns")
    # detections without such fields are untouched
    assert configs(profile)["mfa_fatigue"] == configs(TenantProfile())["mfa_fatigue"]


def test_an_empty_profile_changes_nothing():
    settings = DetectionSettings()
    assert TenantProfile().apply(settings) is settings


def test_a_new_detection_opts_in_by_declaring_the_field():
    @dataclass(frozen=True)
    class NewConfig:
        threshold: int = 3
        allowlist_cidrs: tuple[str, ...] = ("192.0.2.0/24",)

    @dataclass(frozen=True)
    class Settings:
        new_detection: NewConfig = field(default_factory=NewConfig)

    merged = TenantProfile(egress_cidrs=("198.51.100.0/24",), egress_asns=frozenset({1})).apply(Settings())
    assert merged.new_detection == NewConfig(3, ("192.0.2.0/24", "198.51.100.0/24"))


# -- service accounts ----------------------------------------------------------------------------------------------


def human_only_attacks(who: dict) -> list[dict]:
    """A stream that fires every human-only detection for the user `who`."""
    return [
        *push_bombing(T0, 6, accept=True, **who),  # MFA fatigue, both variants
        sign_in(T0 + 2 * HOUR, "nyc", session="s-travel-1", **who),
        sign_in(T0 + 3 * HOUR, "london", session="s-travel-2", **who),  # impossible travel
        sign_in(T0 + 9 * HOUR, "moscow", proxy=True, session="s-anon", behaviors="{New Device=POSITIVE}", **who),
        sign_in(T0 + 20 * HOUR, "nyc", session="s-cookie", **who),
        sign_in(  # the cookie replayed from another network and browser
            T0 + 21 * HOUR,
            "chicago",
            session="s-cookie",
            event_type="user.authentication.sso",
            ua=FIREFOX_WIN,
            os="Windows 10",
            browser="FIREFOX",
            dt_hash=None,
            **who,
        ),
    ]


def test_service_accounts_get_no_human_only_findings():
    raws = human_only_attacks(SVC)
    assert {f.detection for f in run(raws)} == HUMAN_ONLY  # the control: unlisted, every detection fires
    assert run(raws, TenantProfile(service_accounts=frozenset({"svc-backup@acme.com"}))) == []
    assert run(raws, TenantProfile(service_accounts=frozenset({"00usvcbackup"}))) == []


def test_other_users_are_unaffected_by_the_service_account_list():
    profile = TenantProfile(service_accounts=frozenset({"svc-backup@acme.com"}))
    alice = {"user": "00u1alice", "login": "alice@acme.com"}
    assert {f.detection for f in run(human_only_attacks(alice), profile)} == HUMAN_ONLY


def test_service_accounts_still_count_as_credential_attack_targets():
    profile = TenantProfile(service_accounts=frozenset({"svc-backup@acme.com"}))
    attacker = "185.220.101.4"
    stuffing = [failed_sign_in(T0 + i * 60, SVC["login"], ip=attacker, user=SVC["user"]) for i in range(5)]
    breach = sign_in(T0 + 30 * 60, "moscow", ip=attacker, **SVC)
    (finding,) = run([*stuffing, breach], profile)
    assert finding.detection == "success_after_credential_attack" and finding.principal == SVC["user"]

    sprayed = [failed_sign_in(T0 + i * 60, f"user{i}@acme.com", ip=attacker) for i in range(9)]
    sprayed.append(failed_sign_in(T0 + 600, SVC["login"], ip=attacker, user=SVC["user"]))
    (spray,) = run(sprayed, profile)
    assert spray.detection == "password_spray" and sprayed[-1]["uuid"] in spray.event_uuids
    engine = Engine(build_detections(profile=profile), TenantContext("acme", profile=profile))
    routed = engine.routes(parse_event(sprayed[-1], "acme"))
    credential = {"password_spray", "brute_force", "success_after_credential_attack", "distributed_spray"}
    assert {d for ids in routed.values() for d in ids} == credential
