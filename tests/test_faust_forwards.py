"""The forwards to itdr.events.rekeyed: what the first pass writes, the second reads back (without a broker:
``DetectionAgents`` over in-process tables and topics)."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from detections.event import parse_event
from detections.testkit import failed_sign_in
from detector.stream.faust_app import _Out
from detector.stream.forwards import (
    BUNDLE,
    BUNDLE_BYTES,
    BUNDLE_VERSION,
    Bundler,
    UnreadableForward,
    forward_partition,
    read_forwards,
)
from detector.stream.in_process import Message, Record, partition_of
from tests.test_in_process_worker import IP, PARTITIONS, T0, records, spray, worker


def _bundle(*forwards: tuple[str, str, list[str], bytes]) -> Record:
    bundler = Bundler(PARTITIONS)
    for forward in forwards:
        bundler.put(*forward)
    ((partition, key, value),) = bundler.records()
    return Record(key, value, Message(partition, ((BUNDLE, BUNDLE_VERSION),)))


async def test_a_batch_forwards_one_bundle_per_partition_each_where_its_keys_were_placed() -> None:
    w = worker()
    raws = spray(12)
    await w.agents.by_actor(records(raws))
    bundles = w.rekeyed.take()
    engine = w.agents.engines["acme"]
    routes = [(key, ids) for raw in raws for key, ids in engine.routes(parse_event(raw, "acme")).items()]
    assert len(bundles) == len({p.message.partition for p in bundles}) <= PARTITIONS < len(routes)
    read = []
    for bundle in bundles:
        assert dict(bundle.message.headers) == {BUNDLE: BUNDLE_VERSION}
        forwards = read_forwards(bundle.value, bundle.message.headers)
        assert {forward_partition("acme", f.state_key, PARTITIONS) for f in forwards} == {bundle.message.partition}
        assert partition_of(bundle.key, PARTITIONS) == bundle.message.partition
        read += forwards
    # every forward, none twice, and each partition's in the order the events came
    assert Counter((f.state_key, f.only) for f in read) == Counter((k, frozenset(ids)) for k, ids in routes)
    order = [parse_event(r, "acme").uuid for r in raws]
    for bundle in bundles:
        forwards = read_forwards(bundle.value, bundle.message.headers)
        uuids = [parse_event(orjson.loads(f.value), "acme").uuid for f in forwards]
        assert uuids == sorted(uuids, key=order.index)


async def test_a_malformed_event_in_a_bundle_is_a_dead_letter_alone() -> None:
    w = worker()
    good = [orjson.dumps(r) for r in spray(2)]
    record = _bundle(
        ("acme", f"ip|{IP}", ["password_spray"], good[0]),
        ("acme", f"ip|{IP}", ["password_spray"], b"{not json"),
        ("acme", f"ip|{IP}", ["password_spray"], good[1]),
    )
    works = w.agents._unpack_rekeyed(record, out := _out())
    assert [w.value for w in works] == good
    await _sent(out)
    (dead,) = w.deadletter.records
    assert dead.value == b"{not json" and dict(dead.message.headers)["reason"].startswith(b"malformed event")


async def test_an_unreadable_bundle_is_one_dead_letter_and_the_batch_goes_on() -> None:
    w = worker()
    good = _bundle(("acme", f"ip|{IP}", ["password_spray"], orjson.dumps(spray(1)[0])))
    broken = Record(b"acme|x", b"\x00\x00\x00\x09[[1,2,3]]", Message(0, ((BUNDLE, BUNDLE_VERSION),)))
    truncated = Record(b"acme|x", good.value[:-5], good.message)
    await w.agents.by_key([broken, truncated, good])
    assert [d.value for d in w.deadletter.records] == [broken.value, truncated.value]
    assert w.agents.keyed_states  # the good bundle ran


def test_read_forwards_rejects_what_no_layout_wrote() -> None:
    for value in (b"", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02{}", b"\x00\x00\x00\x10[[1,2,3,4,5,6]]xxx"):
        with pytest.raises(UnreadableForward):
            read_forwards(value, ((BUNDLE, BUNDLE_VERSION),))
    with pytest.raises(UnreadableForward):
        read_forwards(b"{}", ())  # an envelope without its fields
    with pytest.raises(UnreadableForward):
        read_forwards(b"{}", (("detections", b"[1]"), ("tenant", b"acme")))


def test_an_event_routed_to_two_keys_of_one_partition_is_stored_once_and_read_as_one() -> None:
    value = orjson.dumps(spray(1)[0])
    keys = [k for k in (f"ip|{IP}", *(f"login|u{i}" for i in range(30))) if forward_partition("acme", k, 3) == 0][:2]
    record = _bundle(*(("acme", key, ["password_spray"], value) for key in keys))
    assert record.value.count(value) == 1
    first, second = read_forwards(record.value, record.message.headers)
    assert (first.state_key, second.state_key) == tuple(keys) and first.value is second.value == value


def test_a_partition_s_forwards_past_the_size_bound_are_split_into_bundles_in_order() -> None:
    bundler = Bundler(PARTITIONS)
    values = [orjson.dumps({"n": i, "pad": "x" * 40_000}) for i in range(20)]
    for value in values:
        bundler.put("acme", "tenant", ["distributed_spray"], value)
    bundles = list(bundler.records())
    assert len(bundles) > 1 and len({p for p, _, _ in bundles}) == 1
    assert all(len(v) < BUNDLE_BYTES + 64 * 1024 for _, _, v in bundles)
    assert [f.value for _, _, v in bundles for f in read_forwards(v, ((BUNDLE, BUNDLE_VERSION),))] == values
    assert list(bundler.records()) == []


def test_a_forward_of_the_earlier_headers_layout_is_still_read() -> None:
    w = worker()
    value = orjson.dumps(failed_sign_in(T0, "eve@acme.com"))
    headers = (("tenant", b"acme"), ("detections", b'["password_spray"]'))
    (work,) = w.agents._unpack_rekeyed(Record(b"acme|x", value, Message(0, headers)), _out())
    assert work.tenant == "acme" and work.value == value and work.only == frozenset({"password_spray"})
    assert work.event.uuid == parse_event(orjson.loads(value), "acme").uuid


def test_a_forward_of_the_earlier_envelope_layout_is_still_read() -> None:
    w = worker()
    raw = failed_sign_in(T0, "eve@acme.com")
    envelope = orjson.dumps({"t": "acme", "d": ["password_spray"], "e": raw})
    (work,) = w.agents._unpack_rekeyed(Record(b"acme|x", envelope, Message(0)), _out())
    assert work.only == frozenset({"password_spray"}) and orjson.loads(work.value) == raw


async def test_a_forward_for_a_tenant_no_longer_run_is_a_dead_letter() -> None:
    w = worker()
    value = orjson.dumps(failed_sign_in(T0, "eve@acme.com"))
    await w.agents.by_key([_bundle(("gone", f"ip|{IP}", ["password_spray"], value))])
    (dead,) = w.deadletter.records
    assert dict(dead.message.headers)["reason"] == b"unknown tenant" and dead.value == value


def _out() -> _Out:
    return _Out(Bundler(PARTITIONS))


async def _sent(out: _Out) -> None:
    for send in out.sends:
        await send
