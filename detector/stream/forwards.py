"""The records of ``itdr.events.rekeyed``: a batch's forwards bundled, one record per destination partition.

An event forwarded to the state keys of the detections not keyed by actor (``Engine.routes``) was a Kafka record
of its own per state key, each produced, fetched, delivered and parsed by Faust on its own (~1.29 per event).
Now the first pass's batch sends one bundle per partition (split when it would grow past ``BUNDLE_BYTES``),
holding every forward of the batch for that partition, in order. Each bundle goes to the partition the default
partitioner gives the forward's own key ``tenant|state_key``, so state lives, and is written to the changelog
partition, exactly where it did when each forward was its own record.

A bundle's value: a 4-byte big-endian length, that many bytes of JSON index ``[[tenant, state_key, [detection
ids], offset, length], ...]``, then the events' bytes as they arrived (an event forwarded under two keys of one
partition is there once). The header ``bundle`` names the layout's version. Two earlier layouts may be left on
the topic after an upgrade and are read as one forward each (``read_forwards``): the event's bytes with its
tenant and detection ids in the headers ``tenant`` and ``detections``, and before that a JSON envelope
``{"t": tenant, "d": ids, "e": event}``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

BUNDLE = "bundle"  # the header marking a bundle, and its layout version
BUNDLE_VERSION = b"1"
FORWARD_TENANT = "tenant"  # the headers of a single forward (the layout before bundles)
FORWARD_DETECTIONS = "detections"  # its JSON list of the detection ids to run
BUNDLE_BYTES = 256 * 1024  # event bytes per bundle: well under the producer's batch and the broker's record limit
_LENGTH = 4


class UnreadableForward(ValueError):
    """A record of the rekeyed topic in no layout this version writes or reads."""


@dataclass(frozen=True, slots=True)
class Forward:
    """One event to run the detections ``only`` on, under one state key."""

    tenant: str
    state_key: str
    only: frozenset[str]
    value: bytes  # the event as it arrived: what a dead letter keeps
    raw: Any = None  # the event already decoded, if a layout carried it so


def partition_of(key: bytes | None, partitions: int) -> int:
    """Where the producer's default partitioner puts ``key`` on a topic of ``partitions`` (murmur2 of the key)."""
    every = list(range(partitions))
    return int(DefaultPartitioner()(key, every, every))


@functools.lru_cache(maxsize=65_536)
def forward_partition(tenant: str, state_key: str, partitions: int) -> int:
    """The partition of the forward's own key ``tenant|state_key`` (memoised: the pure-Python murmur2 is ~10 us
    a key, and state keys repeat: the same IPs, logins, the tenant)."""
    return partition_of(f"{tenant}|{state_key}".encode(), partitions)


@dataclass(slots=True)
class _Open:
    """A bundle being filled: its index, the events' bytes, and the last event put (an event routed to two
    state keys of this partition comes in a row, so its bytes are stored once)."""

    key: bytes  # the first forward's own key: the record's key, which also hashes to this partition
    index: list[list[Any]] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    size: int = 0
    last: bytes | None = None


class Bundler:
    """A batch's forwards, bundled by destination partition in the order they were made."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._open: dict[int, _Open] = {}
        self._full: list[tuple[int, _Open]] = []

    def put(self, tenant: str, state_key: str, detections: Sequence[str], value: bytes) -> None:
        partition = forward_partition(tenant, state_key, self.partitions)
        bundle = self._open.get(partition)
        if bundle is not None and bundle.last is not value and bundle.size + len(value) > BUNDLE_BYTES:
            self._full.append((partition, bundle))
            bundle = None
        if bundle is None:
            bundle = self._open[partition] = _Open(f"{tenant}|{state_key}".encode())
        if bundle.last is not value:
            bundle.values.append(value)
            bundle.size += len(value)
            bundle.last = value
        bundle.index.append([tenant, state_key, detections, bundle.size - len(value), len(value)])

    def records(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(partition, key, value) of each bundle, each partition's in order; the bundler is empty after."""
        for partition, bundle in [*self._full, *self._open.items()]:
            index = orjson.dumps(bundle.index)
            yield partition, bundle.key, b"".join([len(index).to_bytes(_LENGTH, "big"), index, *bundle.values])
        self._full.clear()
        self._open.clear()


def read_forwards(value: bytes | None, headers: Any) -> list[Forward]:
    """The forwards of one record of the rekeyed topic, in any layout it has had (see the module's docstring).
    Raises ``UnreadableForward`` for a record in none of them; never an event's own fault (its bytes are not
    parsed here: a malformed one is the caller's dead letter alone)."""
    meta = dict(headers or ())
    try:
        if BUNDLE in meta:
            return _bundle(value or b"")
        if FORWARD_DETECTIONS in meta:
            ids = orjson.loads(meta[FORWARD_DETECTIONS])
            return [Forward(meta[FORWARD_TENANT].decode(), "", _ids(ids), value or b"")]
        envelope = orjson.loads(value or b"")
        raw = envelope["e"]
        return [Forward(_text(envelope["t"]), "", _ids(envelope["d"]), orjson.dumps(raw), raw)]
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise UnreadableForward(f"unreadable forward: {exc}") from exc


def _bundle(value: bytes) -> list[Forward]:
    start = _LENGTH + int.from_bytes(value[:_LENGTH], "big")
    index = orjson.loads(value[_LENGTH:start])
    if len(value) < start or not isinstance(index, list):
        raise UnreadableForward("truncated bundle")
    events = memoryview(value)[start:]
    forwards, cut = [], None
    for tenant, state_key, ids, offset, length in index:
        if not (isinstance(offset, int) and isinstance(length, int) and 0 <= offset <= offset + length <= len(events)):
            raise UnreadableForward(f"event out of the bundle: {offset}+{length}")
        if cut is None or cut[0] != (offset, length):
            cut = ((offset, length), bytes(events[offset : offset + length]))
        forwards.append(Forward(_text(tenant), _text(state_key), _ids(ids), cut[1]))
    return forwards


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise UnreadableForward(f"not a string: {type(value).__name__}")
    return value


def _ids(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise UnreadableForward("detection ids not a list of strings")
    return frozenset(value)
