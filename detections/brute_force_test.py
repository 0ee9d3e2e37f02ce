from __future__ import annotations

from detections.brute_force import BruteForce
from detections.engine import Engine, TenantContext
from detections.event import parse_event
from detections.finding import Severity
from detections.testkit import failed_sign_in, log_event, oie_password_failure, oie_push_deny

T0 = 1_700_000_000.0


def run(raws, states=None):
    engine = Engine([BruteForce()], TenantContext("acme"))
    return engine.process_all((parse_event(r, "acme") for r in raws), {} if states is None else states)


def test_ten_failures_for_one_user_in_thirty_minutes():
    (finding,) = run([failed_sign_in(T0 + i * 60, "bob@acme.com") for i in range(10)])
    assert finding.detection == "brute_force" and finding.severity is Severity.MEDIUM
    assert finding.principal == "00ubob" and finding.confidence == 30
    assert finding.assessment.actions == ()


def test_multi_source_adds_infrastructure():
    raws = [failed_sign_in(T0 + i * 60, "bob@acme.com", ip=f"198.51.100.{i}") for i in range(10)]
    (finding,) = run(raws)
    assert finding.confidence == 45 and "10 IPs" in finding.assessment.evidence[0].label


def test_few_or_slow_failures_and_push_denials_are_not_brute_force():
    assert run([failed_sign_in(T0 + i * 60, "bob@acme.com") for i in range(9)]) == []
    assert run([failed_sign_in(T0 + i * 300, "bob@acme.com") for i in range(10)]) == []  # 45 min
    assert run([oie_push_deny(T0 + i) for i in range(20)]) == []


def test_identity_engine_password_as_factor_counts():
    assert len(run([oie_password_failure(T0 + i * 30, "bob@acme.com") for i in range(10)])) == 1


def test_repeated_lockouts():
    locks = [log_event("user.account.lock", T0 + i * 1800, result="FAILURE", reason="LOCKED_OUT") for i in range(3)]
    (finding,) = run(locks)
    assert finding.detection == "brute_force_lockouts"


def test_suppression_replay_and_non_humans():
    raws = [failed_sign_in(T0 + i * 10, "bob@acme.com") for i in range(40)]
    states: dict = {}
    findings = run(raws, states)
    assert len({f.dedup_key for f in findings}) == 1  # one attack, revised at 10, 20 and 40 failures
    assert [f.summary.split()[0] for f in findings] == ["10", "20", "40"]
    assert run(raws, states) == []
    service = failed_sign_in(T0, "svc@acme.com")
    service["actor"]["type"] = "PublicClientApp"
    assert run([service] * 1) == []
