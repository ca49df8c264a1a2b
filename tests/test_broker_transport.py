"""The Redis broker transport (config/broker.py): messages still go through, late-acked,
with one Redis client per channel instead of one per command."""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue

QUEUE = "darkroom-test-broker-transport"


def test_a_message_is_delivered_acked_and_kept_unacked_until_then(redis_url: str) -> None:
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(redis_url, transport="config.broker:Transport") as conn:
        channel: Any = conn.channel()
        try:
            queue(channel).declare()
            queue(channel).purge()
            conn.Producer(channel).publish({"job": 1}, exchange=queue.exchange, routing_key=QUEUE)
            message = queue(channel).get(no_ack=False)
            assert message is not None
            assert message.payload == {"job": 1}
            qos = channel.qos
            with channel.conn_or_acquire() as client:
                # Not acked yet: Redis keeps it, so a worker killed now loses nothing.
                assert client.hexists(qos.unacked_key, message.delivery_tag)
            message.ack()
            with channel.conn_or_acquire() as client:
                assert not client.hexists(qos.unacked_key, message.delivery_tag)
            assert queue(channel).get() is None
        finally:
            queue(channel).delete()
            channel.close()


def test_the_channel_keeps_one_client_until_its_pool_changes(redis_url: str) -> None:
    with Connection(redis_url, transport="config.broker:Transport") as conn:
        channel: Any = conn.channel()
        try:
            with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
                assert first is second
            channel._disconnect_pools()  # after a fork or a lost connection
            with channel.conn_or_acquire() as third:
                assert third is not first
                assert third.ping()
        finally:
            channel.close()
