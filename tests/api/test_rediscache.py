"""ecomsight.api.rediscache.pipelined: the API's per-request Redis commands on the thread's own connection,
against the real Redis of REDIS_URL."""

import pytest
from redis.exceptions import ResponseError

from ecomsight.api.rediscache import pipelined, redis_client, redis_key


@pytest.fixture
def key():
    full = redis_key("test-rediscache")
    redis_client().delete(full)
    yield full
    redis_client().delete(full)


def test_replies_come_back_in_order_as_redis_gives_them(key):
    assert pipelined(("GET", key), ("INCR", key), ("INCR", key), ("EXPIRE", key, 61)) == [None, 1, 2, 1]
    # The same value through redis-py's own client, which other code (and Django's cache) reads.
    assert redis_client().get(key) == b"2" and 0 < redis_client().ttl(key) <= 61
    assert pipelined(("GET", key)) == [b"2"]


def test_a_connection_the_server_dropped_is_opened_again(key):
    own_id, = pipelined(("CLIENT", "ID"))
    assert redis_client().client_kill_filter(_id=own_id) == 1  # what a Redis restart does to it
    assert pipelined(("INCR", key)) == [1]
    new_id, = pipelined(("CLIENT", "ID"))
    assert new_id != own_id


def test_an_error_reply_is_raised_and_leaves_no_reply_behind_for_the_next_call(key):
    redis_client().set(key, "not a number")
    with pytest.raises(ResponseError):
        pipelined(("INCR", key), ("GET", key))
    # The GET's reply was never read on that connection: the next call must not receive it.
    assert pipelined(("EXISTS", key), ("STRLEN", key)) == [1, 12]
