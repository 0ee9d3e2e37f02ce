"""KafkaSink's cursor: an empty page moves the cursor but keeps the restart point of the last page with events."""

from __future__ import annotations

from detector.stream.bus import Cursor, EventRecord
from detector.stream.kafka_bus import KafkaSink, TopicPlan, Topics, ensure_topics


async def test_an_empty_page_keeps_the_fallback_restart_point(kafka_bootstrap: str) -> None:
    topics = Topics("sinkcursor.")
    await ensure_topics(kafka_bootstrap, TopicPlan(topics, partitions=1))
    sink = await KafkaSink(kafka_bootstrap, topics).start()
    try:
        assert await sink.load_cursor("acme") is None
        record = EventRecord.from_raw("acme", {"uuid": "u1", "published": "2026-11-30T10:00:00.000Z"}, b"{}")
        await sink.commit_page("acme", [record], Cursor("https://acme/next1", "2026-11-30T10:00:00.000Z"))
        await sink.commit_page("acme", [], Cursor("https://acme/next2", None))
    finally:
        await sink.stop()
    again = await KafkaSink(kafka_bootstrap, topics).start()
    try:
        assert await again.load_cursor("acme") == Cursor("https://acme/next2", "2026-11-30T10:00:00.000Z")
    finally:
        await again.stop()
