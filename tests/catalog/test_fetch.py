import pytest

from catalog.fetch import FetchError, FetchPolicy, address_allowed, image_fetch
from tests.catalog.pictures import jpeg_bytes, photo

LOCAL = FetchPolicy(allow_private=True, attempts=1, connect_timeout=2, read_timeout=2, backoff=0.01)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1", "240.0.0.1"])
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address):
    assert not address_allowed(address, allow_private=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_allowed(address, allow_private=False)


def test_a_url_on_this_machine_is_refused_by_default_and_never_requested(picture_server):
    url = picture_server.add("/cat.jpg", jpeg_bytes(photo("chelsea")))
    for target in (url, url.replace("127.0.0.1", "localhost")):  # a name resolving inside is refused too
        with pytest.raises(FetchError, match="refused"):
            image_fetch(target, policy=FetchPolicy())
    assert picture_server.hits == {}


def test_a_redirect_to_a_private_address_is_refused_at_the_hop(picture_server, monkeypatch):
    url = picture_server.add("/go", location="http://169.254.169.254/latest/meta-data/")
    # the first hop is allowed (private allowed only for 127.0.0.1), the redirect target is checked again
    import catalog.fetch as fetch

    real = fetch.address_allowed
    monkeypatch.setattr(fetch, "address_allowed",
                        lambda a, allow_private: a == "127.0.0.1" or real(a, allow_private=False))
    with pytest.raises(FetchError, match="refused"):
        image_fetch(url, policy=FetchPolicy(attempts=1))
    assert picture_server.hits == {"/go": 1}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x/", "http:///nohost"])
def test_only_http_and_https_with_a_host_are_fetched(url):
    with pytest.raises(FetchError, match="refused"):
        image_fetch(url, policy=LOCAL)


def test_a_picture_is_fetched_when_private_addresses_are_allowed(picture_server):
    body = jpeg_bytes(photo("coffee"))
    fetched = image_fetch(picture_server.add("/c.jpg", body), policy=LOCAL)
    assert fetched.data == body and fetched.content_type == "image/jpeg"


def test_a_page_that_is_not_an_image_is_refused_by_its_content_type(picture_server):
    with pytest.raises(FetchError, match="not an image: Content-Type text/html"):
        image_fetch(picture_server.add("/page", b"<html></html>", type="text/html; charset=utf-8"), policy=LOCAL)


@pytest.mark.parametrize("chunked", [False, True])
def test_bodies_over_the_size_limit_are_abandoned_declared_or_not(picture_server, chunked):
    url = picture_server.add("/big.jpg", b"x" * 200_000, chunked=chunked)
    with pytest.raises(FetchError, match="too large"):
        image_fetch(url, policy=FetchPolicy(allow_private=True, attempts=1, max_bytes=100_000))


def test_a_server_too_slow_to_answer_times_out_and_is_retried(picture_server):
    url = picture_server.add("/slow.jpg", b"x" * 10, delay=1.5, chunked=True)
    policy = FetchPolicy(allow_private=True, attempts=2, read_timeout=0.3, backoff=0.01)
    with pytest.raises(FetchError, match="after 2 attempts"):
        image_fetch(url, policy=policy)
    assert picture_server.hits["/slow.jpg"] == 2


def test_a_flaky_server_is_retried_until_it_answers_but_a_404_is_not(picture_server):
    body = jpeg_bytes(photo("rocket"))
    url = picture_server.add("/flaky.jpg", body, fail_first=2)
    policy = FetchPolicy(allow_private=True, attempts=3, backoff=0.01)
    assert image_fetch(url, policy=policy).data == body
    assert picture_server.hits["/flaky.jpg"] == 3
    with pytest.raises(FetchError, match="HTTP 404"):
        image_fetch(picture_server.url("/missing.jpg"), policy=policy)
    assert picture_server.hits["/missing.jpg"] == 1
