"""DB-first sequenced streams: sequencer (writes), ring, hub (fan-out), replay (reads)."""

from app.engine.streams.core import Streams
from app.engine.streams.event import Event, NewEvent
from app.engine.streams.hub import SlowConsumer, StreamClosed, StreamEnded, Subscription
from app.engine.streams.replay import ReadResult
from app.engine.streams.sequencer import Emit

__all__ = [
    "Emit",
    "Event",
    "NewEvent",
    "ReadResult",
    "SlowConsumer",
    "StreamClosed",
    "StreamEnded",
    "Streams",
    "Subscription",
]
