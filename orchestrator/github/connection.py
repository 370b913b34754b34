"""Keep-alive HTTP/1.1 to the API host over the standard library's `http.client`.

Why not `requests`: importing requests + urllib3 (+ charset_normalizer, idna) costs ~45 ms of a cron tick whose
whole budget is ~100 ms, and an idle tick sends a handful of requests to one host. `http.client` does what the
API edge needs — one persistent connection per origin, TLS with certificate verification — and this module adds
the rest that `requests` did for us: proxies from the environment, redirects, gzip, case-insensitive headers.

Failures are classified for the retry rules of `transport.py`: `SendFailed.unsent` is True only when no byte of
the request can have reached the server (name resolution, connection refused, connect timeout, TLS handshake,
proxy CONNECT). A kept-alive connection the server closed while idle is noticed before reuse (as urllib3 does);
when the close races the request, an idempotent request is sent once more on a fresh connection.
"""

from __future__ import annotations

import _thread
import http.client
import os
import select
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    import ssl

MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_CA_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)  # what `requests` honoured; kept for users who set them


class SendFailed(Exception):
    """No answer: the request failed on the way (or the answer could not be read)."""

    def __init__(self, reason: str, *, unsent: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unsent = unsent  # the server cannot have seen the request
        self.timed_out = timed_out


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively; a repeated header's values joined with ", "."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                name, value = self._items[key][0], f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


class RawResponse:
    """One answer: status, headers, and the body with its content-encoding undone. (A plain class: this module
    is on the idle tick's path, which does not import `dataclasses`.)"""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        """The body as text: the charset the server named, else UTF-8 (what JSON is)."""
        charset = "utf-8"
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


_Origin = tuple[str, str, int]  # scheme, host, port


class Connections:
    """Kept-alive connections per origin, shared safely by threads (the queue's workers share one client): a
    request takes an idle connection of its origin or opens one, and gives it back when the answer was read
    whole and the server keeps it open. `request` follows redirects like a browser (and `requests`)."""

    def __init__(self, timeout: float, ca_bundle: str | None = None) -> None:
        self.timeout = timeout
        self.ca_bundle = ca_bundle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = _thread.allocate_lock()
        self._absolute_targets: set[_Origin] = set()  # plain HTTP through a proxy: the request names the URL
        self._ssl: ssl.SSLContext | None = None

    def close(self) -> None:
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawResponse:
        sent_headers = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, sent_headers, body)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response
            target = urljoin(url, location)
            if urlsplit(target).scheme not in _DEFAULT_PORTS:
                return response
            method, body = _redirected_method(method, response.status, body)
            if body is None:
                sent_headers.pop("Content-Type", None)
            if _origin_of(target) != _origin_of(url) and not _upgrade_only(url, target):
                sent_headers.pop("Authorization", None)  # never send the token to another host
            url = target
        raise SendFailed(f"more than {MAX_REDIRECTS} redirects", unsent=False)

    # --- one exchange ------------------------------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> RawResponse:
        origin = _origin_of(url)
        connection, reused = self._checkout(origin, url)
        target = self._target(url, origin)  # after connecting: whether it goes through a proxy is known
        try:
            return self._exchange(connection, origin, method, target, headers, body)
        except _DroppedWhileIdle as dropped:
            if not reused or method not in _IDEMPOTENT:
                raise SendFailed(dropped.reason, unsent=False) from None
        connection = self._connect(origin, url)  # the server closed the kept-alive connection: once more
        try:
            return self._exchange(connection, origin, method, target, headers, body)
        except _DroppedWhileIdle as dropped:
            raise SendFailed(dropped.reason, unsent=False) from None

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        origin: _Origin,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> RawResponse:
        """One request and its whole answer on a connection this thread holds; the connection goes back to
        the idle ones when it may be used again, else it is closed."""
        try:
            connection.request(method, target, body=body, headers=headers)
            raw = connection.getresponse()
            data = raw.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
            connection.close()
            raise _DroppedWhileIdle(_describe(error)) from error
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise SendFailed(
                _describe(error), unsent=False, timed_out=isinstance(error, TimeoutError)
            ) from error
        if raw.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.setdefault(origin, []).append(connection)
        response_headers = Headers(raw.getheaders())
        return RawResponse(raw.status, response_headers, _decoded(data, response_headers))

    # --- connections -------------------------------------------------------------------------------------
    def _checkout(self, origin: _Origin, url: str) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection of the origin the server has not closed (reused), else a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._connect(origin, url), False
            if not _dropped(connection):
                return connection, True
            connection.close()

    def _connect(self, origin: _Origin, url: str) -> http.client.HTTPConnection:
        """A new, connected connection. Failing to connect means the request was never sent (`unsent`)."""
        connection = self._new_connection(origin, url)
        try:
            connection.connect()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise SendFailed(
                _describe(error), unsent=True, timed_out=isinstance(error, TimeoutError)
            ) from error
        return connection

    def _new_connection(self, origin: _Origin, url: str) -> http.client.HTTPConnection:
        scheme, host, port = origin
        proxy = _proxy_for(url)
        with self._lock:
            self._absolute_targets.discard(origin)
        if proxy is None:
            return self._plain_or_tls(scheme, host, port)
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.scheme != "http" or not parts.hostname:
            raise SendFailed(
                f"proxy {parts.scheme}://{parts.hostname} is not supported (use an http:// proxy URL)",
                unsent=True,
            )
        connection = self._plain_or_tls(scheme, parts.hostname, parts.port or 80)
        if scheme == "http":
            with self._lock:
                self._absolute_targets.add(origin)
        auth = _proxy_authorization(parts.username, parts.password)
        if scheme == "https":
            connection.set_tunnel(host, port, headers=auth)
        return connection

    def _plain_or_tls(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls_context())
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _tls_context(self) -> ssl.SSLContext:
        """Verify certificates against, in order: the configured bundle, $REQUESTS_CA_BUNDLE or $CURL_CA_BUNDLE,
        certifi's bundle (what `requests` used), else the system's."""
        if self._ssl is None:
            import ssl

            where = self.ca_bundle or next((os.environ[v] for v in _CA_VARIABLES if os.environ.get(v)), None)
            where = where or _certifi_bundle()
            if where is not None and os.path.isdir(where):
                self._ssl = ssl.create_default_context(capath=where)
            else:
                self._ssl = ssl.create_default_context(cafile=where)
        return self._ssl

    def _target(self, url: str, origin: _Origin) -> str:
        if origin in self._absolute_targets:
            return url
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _DroppedWhileIdle(Exception):
    """The server closed the connection before answering (for a kept-alive one: it timed out while idle)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _origin_of(url: str) -> _Origin:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise SendFailed(f"not an http(s) URL: {url}", unsent=True)
    return (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])


def _upgrade_only(source: str, target: str) -> bool:
    """http://host → https://host on the default ports keeps the credentials (as `requests` does)."""
    a, b = urlsplit(source), urlsplit(target)
    return (
        a.scheme == "http"
        and b.scheme == "https"
        and a.hostname == b.hostname
        and a.port in (None, 80)
        and b.port in (None, 443)
    )


def _redirected_method(method: str, status: int, body: bytes | None) -> tuple[str, bytes | None]:
    """303 → GET; 301/302 turn a POST into a GET (what browsers and `requests` do); 307/308 keep both."""
    if status == 303 and method != "HEAD":
        return "GET", None
    if status in (301, 302) and method == "POST":
        return "GET", None
    return method, body


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """A kept-alive socket that is readable before we sent anything was closed (or broken) by the server."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _decoded(data: bytes, headers: Headers) -> bytes:
    encoding = headers.get("Content-Encoding", "").strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(data)
            except zlib.error:
                return zlib.decompress(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    except zlib.error as error:
        raise SendFailed(f"the answer's {encoding} body is corrupt: {error}", unsent=False) from error
    return data


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (honouring no_proxy), as `requests` did; None when none is
    set — the common case, decided without importing urllib.request."""
    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.netloc):  # no_proxy / NO_PROXY
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _proxy_authorization(user: str | None, password: str | None) -> dict[str, str] | None:
    if not user:
        return None
    import base64

    pair = f"{unquote(user)}:{unquote(password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def _certifi_bundle() -> str | None:
    """certifi's CA file, found without importing certifi (its import costs more than the lookup)."""
    from importlib.util import find_spec

    spec = find_spec("certifi")
    if spec is None or spec.origin is None:
        return None
    bundle = os.path.join(os.path.dirname(spec.origin), "cacert.pem")
    return bundle if os.path.isfile(bundle) else None


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    text = str(error) or type(error).__name__
    return text if isinstance(error, OSError) else f"{type(error).__name__}: {text}"
