"""Fetching product pictures over HTTP(S), safely (no Django: the caller passes the policy).

Server-side request forgery: an `image_url` is the shop's (or an attacker's) text, and the worker fetching it
sits inside our network. So the host name is resolved here, every address it resolves to is checked (loopback,
private, link-local — 169.254.169.254, the cloud metadata service —, carrier-grade NAT, multicast and reserved
ranges are refused unless the policy allows private addresses), and the connection goes to the checked address
itself (the Host header and TLS name stay the URL's), so a second DNS answer cannot swap in another address.
Redirects are followed by hand, each hop checked the same way. Bodies are read in chunks and abandoned past
`max_bytes`; the declared Content-Type must be an image type. Connection errors, timeouts, 429 and 5xx are
retried with exponential back-off; other 4xx are final.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff",
                         "image/pjpeg", "image/x-ms-bmp"})
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(Exception):
    """A picture could not be fetched; the message is the reason people read. `retry`: worth trying later."""

    def __init__(self, message: str, *, retry: bool = False, status: int | None = None):
        super().__init__(message)
        self.retry = retry
        self.status = status  # the HTTP status that caused it, if any


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch: seconds to connect and to read, the largest body, attempts, redirects."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    attempts: int = 3
    backoff: float = 0.5
    max_redirects: int = 3
    allow_private: bool = False
    user_agent: str = "EcomSight-image-fetcher/1.0"
    allowed_types: frozenset[str] = field(default=IMAGE_TYPES)
    # What the refusal of a private address tells its reader: the setting, for whoever runs the server; in words,
    # where the person at the keyboard reads it (a delivery's address).
    private_hint: str = "IMAGE_FETCH_ALLOW_PRIVATE=true allows such addresses"


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a connection to this IP address may be made (public unicast only, unless private is allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    if allow_private:
        return True
    return ip.is_global and not ip.is_reserved and not ip.is_link_local and not ip.is_loopback


def _resolve(host: str, port: int, *, allow_private: bool,
             hint: str = "IMAGE_FETCH_ALLOW_PRIVATE=true allows such addresses") -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host}", retry=True) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchError(f"cannot resolve host {host}", retry=True)
    refused = [a for a in addresses if not address_allowed(a, allow_private=allow_private)]
    if refused:  # any private answer refuses the host: a DNS name must not point inside
        raise FetchError(f"refused: {host} is on a private network ({refused[0]}); {hint}")
    return addresses[0]


@dataclass(frozen=True)
class PinnedAddress:
    """A URL's host resolved once and checked: connections go to `address` (the Host header and the TLS name stay
    `host`), so a later DNS answer cannot send them elsewhere (DNS rebinding)."""

    scheme: str
    host: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        """The Host header a client sends for this host (the port only when it is not the scheme's default)."""
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    def serves(self, url: str) -> bool:
        """Whether `url` names this scheme, host and port (a request for another host needs its own check)."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        return (parts.scheme, (parts.hostname or "").lower(), port) == (self.scheme, self.host.lower(), self.port)


def address_pin(url: str, *, policy: FetchPolicy) -> PinnedAddress:
    """Resolve `url`'s host once and check every address it resolves to (see the module's docstring); FetchError
    for an address that may not be reached (retry=True when the name does not resolve)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused: only http and https addresses are fetched ({parts.scheme or 'no'} scheme)")
    if not parts.hostname:
        raise FetchError("refused: the address has no host")
    if parts.username or parts.password:
        raise FetchError("refused: addresses with credentials are not fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError("refused: invalid port") from exc
    address = _resolve(parts.hostname, port, allow_private=policy.allow_private, hint=policy.private_hint)
    return PinnedAddress(scheme=parts.scheme, host=parts.hostname, port=port, address=address)


def pinned_pool(pin: PinnedAddress, policy: FetchPolicy) -> urllib3.HTTPConnectionPool:
    """A connection pool to the pinned address; TLS certificates are checked against the host's name."""
    timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
    if pin.scheme == "https":
        return urllib3.HTTPSConnectionPool(pin.address, pin.port, timeout=timeout, retries=False, maxsize=1,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                           server_hostname=pin.host, assert_hostname=pin.host)
    return urllib3.HTTPConnectionPool(pin.address, pin.port, timeout=timeout, retries=False, maxsize=1)


def _pool(url: str, policy: FetchPolicy) -> tuple[urllib3.HTTPConnectionPool, str, str]:
    """A connection pool to the checked address of `url` (see the module's docstring), the path to ask for
    and the Host header to send; FetchError for an address that may not be reached."""
    pin = address_pin(url, policy=policy)
    parts = urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return pinned_pool(pin, policy), path, host_header


def _urlopen(pool: urllib3.HTTPConnectionPool, method: str, path: str, **kwargs):
    try:
        return pool.urlopen(method, path, redirect=False, preload_content=False, assert_same_host=False, **kwargs)
    except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError,
            urllib3.exceptions.NewConnectionError, OSError) as exc:
        raise FetchError(f"connection failed ({type(exc).__name__})", retry=True) from exc
    except urllib3.exceptions.SSLError as exc:
        raise FetchError(f"TLS error ({exc})") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise FetchError(f"HTTP error ({type(exc).__name__})", retry=True) from exc


def checked_post(url: str, *, body: bytes, headers: dict[str, str], policy: FetchPolicy) -> int:
    """POST `body` once to `url` with the same address checks as a picture fetch (no redirects followed);
    returns the HTTP status. FetchError (retry=True) for a connection failure, a timeout, 408/425/429 or 5xx;
    FetchError for any other status but 2xx."""
    pool, path, host_header = _pool(url.strip(), policy)
    try:
        response = _urlopen(pool, "POST", path, body=body,
                            headers={**headers, "Host": host_header, "User-Agent": policy.user_agent})
        try:
            response.read(64 * 1024)  # the answer is not used; read a little so the connection ends cleanly
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError, OSError):
            pass
        finally:
            response.release_conn()
    finally:
        pool.close()
    if not 200 <= response.status < 300:
        raise FetchError(f"HTTP {response.status}", retry=response.status in RETRY_STATUSES, status=response.status)
    return response.status


def url_check(url: str, *, policy: FetchPolicy) -> None:
    """FetchError if `url` is not one the policy lets us reach (scheme, credentials, a private address...)."""
    pool, _path, _host = _pool(url.strip(), policy)
    pool.close()


def _once(url: str, policy: FetchPolicy) -> Fetched:
    for _ in range(policy.max_redirects + 1):
        pool, path, host_header = _pool(url, policy)
        try:
            response = _urlopen(pool, "GET", path, headers={"Host": host_header, "User-Agent": policy.user_agent,
                                                            "Accept": "image/*"})
        except FetchError:
            pool.close()
            raise
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(f"HTTP {response.status} without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"HTTP {response.status}", retry=response.status in RETRY_STATUSES)
            content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if content_type not in policy.allowed_types:
                raise FetchError(f"not an image: Content-Type {content_type or 'missing'}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise FetchError(f"too large: {int(declared):,} bytes (limit {policy.max_bytes:,})")
            chunks, size = [], 0
            try:
                for chunk in response.stream(64 * 1024):
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise FetchError(f"too large: over {policy.max_bytes:,} bytes")
                    chunks.append(chunk)
            except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError, OSError) as exc:
                raise FetchError(f"read failed ({type(exc).__name__})", retry=True) from exc
            if not size:
                raise FetchError("empty body")
            return Fetched(data=b"".join(chunks), content_type=content_type, url=url)
        finally:
            response.release_conn()
            pool.close()
    raise FetchError(f"too many redirects (more than {policy.max_redirects})")


def image_fetch(url: str, *, policy: FetchPolicy) -> Fetched:
    """GET one picture under `policy`, retrying what is worth retrying; raises FetchError with the reason."""
    last: FetchError | None = None
    for attempt in range(max(policy.attempts, 1)):
        try:
            return _once(url.strip(), policy)
        except FetchError as exc:
            last = exc
            if not exc.retry or attempt + 1 >= policy.attempts:
                break
            time.sleep(policy.backoff * (2 ** attempt))
    assert last is not None
    if last.retry and policy.attempts > 1:
        raise FetchError(f"{last} after {policy.attempts} attempts", retry=True)
    raise last
