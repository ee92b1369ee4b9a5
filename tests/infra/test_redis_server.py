import asyncio

from channels_redis.core import RedisChannelLayer

from tests.support.processes import redis_call


def test_redis_answers_ping(redis_server):
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])

    assert redis_call(port, "PING") == "+PONG"


def test_channels_redis_carries_a_message_through_it(redis_server):
    async def round_trip():
        layer = RedisChannelLayer(hosts=[redis_server])
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "infra.check", "text": "hello"})
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        await layer.flush()
        return message

    assert asyncio.run(round_trip()) == {"type": "infra.check", "text": "hello"}
