"""The alert rules pass promtool: ``check rules``, and ``test rules`` with deploy/prometheus/tests/alerts_test.yml
(a tenant whose read token was revoked, a stuck poller, the first failed action, ...), which tests every alert.

promtool is Debian's, installed by tests/prometheus.py when missing. The rules against a running daemon:
tests/pipeline/test_prometheus_embedded.py and tests/kafka/test_kafka_prometheus.py.
"""

from __future__ import annotations

import yaml

from tests.prometheus import ALERTS, alert_expressions, promtool

RULE_TESTS = ALERTS.parent / "tests" / "alerts_test.yml"


def test_promtool_accepts_the_alert_rules():
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_expressions())} rules found" in checked.stdout


def test_the_alert_rules_pass_their_unit_tests():
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test_that_sees_it_fire():
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t.get("exp_alerts")}
    assert fired == set(alert_expressions())
