"""StatusBoard: what a tenant's status says after each poll, on a clock the test controls."""

from __future__ import annotations

from typing import Any

from detector.ops.metrics import Metrics
from detector.ops.status import PollReport, StatusBoard

T0 = 1_800_000_000.0


class Store:
    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.writes = 0

    async def load_status(self) -> dict[str, dict[str, Any]]:
        return dict(self.saved)

    async def save_status(self, tenant: str, value: dict[str, Any]) -> None:
        self.saved[tenant] = value
        self.writes += 1


def ok(t: float, *, full: bool = False, events: int = 5, newest: float | None = None) -> PollReport:
    return PollReport("acme", t, 0.2, events, full, newest if newest is not None else t - 2, rate_limits={"logs": 90})


def failed(t: float, code: str = "E0000011", summary: str = "Invalid token provided") -> PollReport:
    return PollReport("acme", t, 0.1, 0, False, None, code, summary)


async def test_catching_up_is_in_progress_and_a_partial_page_is_success():
    now = [T0]
    board = StatusBoard(["acme"], Metrics(), clock=lambda: now[0])
    assert board.view()[0]["status"] == "in_progress" and board.not_ready() == ["tenant acme: no successful poll yet"]
    await board.record(ok(T0, full=True, newest=T0 - 600))
    view = board.view()[0]
    assert view["status"] == "in_progress" and view["lag_seconds"] == 600.0 and board.not_ready() == []
    await board.record(ok(T0 + 1))
    now[0] = T0 + 3
    view = board.view()[0]
    assert view["status"] == "success" and view["lag_seconds"] == 2.0 and view["events_per_minute"] == 10
    assert view["rate_limit_remaining"] == {"logs": 90} and view["first_connected"] == "2027-01-15T08:00:00Z"


async def test_lag_grows_while_polls_fail_and_the_error_keeps_its_first_time():
    now = [T0]
    board = StatusBoard(["acme"], Metrics(), clock=lambda: now[0], slow_after_s={"acme": 60})
    await board.record(ok(T0))
    for i in range(1, 4):
        await board.record(failed(T0 + i * 60))
    now[0] = T0 + 200
    view = board.view()[0]
    assert view["status"] == "error" and view["lag_seconds"] == 200.0 and view["slow"]
    assert view["error"] == {"code": "E0000011", "summary": "Invalid token provided", "since": "2027-01-15T08:01:00Z"}
    await board.record(failed(T0 + 300, "E0000006", "You do not have permission"))
    assert board.view()[0]["error"]["since"] == "2027-01-15T08:05:00Z"  # another error: another since
    assert [p["error"] for p in board.view()[0]["recent_polls"]][:2] == [
        "E0000006: You do not have permission",
        "E0000011: Invalid token provided",
    ]


async def test_it_persists_on_change_and_every_30_s_and_a_restart_keeps_history_not_readiness():
    now = [T0]
    store = Store()
    board = await StatusBoard(["acme"], Metrics(), store, clock=lambda: now[0]).load()
    await board.record(ok(T0))
    for i in range(1, 10):
        now[0] = T0 + i
        await board.record(ok(T0 + i))
    assert store.writes == 1  # the change to success; then at most one write per 30 s
    now[0] = T0 + 31
    await board.record(ok(T0 + 31))
    assert store.writes == 2
    again = await StatusBoard(["acme", "other"], Metrics(), store, clock=lambda: now[0]).load()
    view = again.view("acme")[0]
    assert view["first_connected"] == "2027-01-15T08:00:00Z" and len(view["recent_polls"]) == 11
    assert view["status"] == "in_progress" and again.not_ready() == [
        "tenant acme: no successful poll yet",
        "tenant other: no successful poll yet",
    ]
