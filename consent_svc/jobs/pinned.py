"""An httpx transport that connects only to addresses that were checked.

The SSRF check (:func:`consent_svc.service.webhooks.check_target`) resolves a
webhook's host name and judges every address. An ordinary HTTP client would
then resolve the name again to connect, and a name whose DNS answer changes in
between ("DNS rebinding": public for the check, 127.0.0.1 for the connection)
would walk past the check. This transport never resolves anything: a request
carries the checked addresses in its ``PIN`` extension, and the connection
pool's network backend opens the TCP connection to one of those addresses.

Everything above TCP is unchanged: the url keeps its host name, so the
``Host`` header, TLS SNI and the certificate check are all against the name,
never against the address. Pooled keep-alive connections are keyed by the
name as usual; each was opened to an address that was checked when it was
opened. A request without a pin, or a connection the pool would open for
another host or port than the pin's, is refused: it fails closed.

The approach (a custom httpcore network backend under a connection pool the
transport owns, rather than rewriting the url to the address) keeps the
certificate check and the pool's keying on the host name.
"""

from __future__ import annotations

import contextlib
import ssl
import typing
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextvars import ContextVar

import httpcore
import httpx

PIN = "consent_svc.pinned_addresses"  # the request extension: the checked addresses, in order of preference


class _Pin(typing.NamedTuple):
    host: str
    port: int
    addresses: tuple[str, ...]


# Set by the transport for the duration of one request's trip through the
# pool: httpcore opens a request's connection in the task that sends it.
_pinned: ContextVar[_Pin | None] = ContextVar("consent_svc_pinned", default=None)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the current request's pinned addresses, in order."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _pinned.get()
        if pin is None or (pin.host, pin.port) != (host, port) or not pin.addresses:
            raise httpcore.ConnectError(f"refused: no checked address for {host}:{port}")
        failure: Exception | None = None
        for address in pin.addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: unix sockets are not a webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's exceptions and the httpx ones a transport is expected to raise.
_MAPPED: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError:
        raise
    except Exception as exc:
        for theirs, ours in _MAPPED:
            if isinstance(exc, theirs):
                raise ours(str(exc), request=request) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, inner: typing.AsyncIterable[bytes], request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for part in self._inner:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            with _httpx_errors(self._request):
                await close()


class PinnedTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, connecting only to each request's ``PIN`` addresses."""

    def __init__(self, *, verify: ssl.SSLContext | None = None, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify or httpx.create_ssl_context(trust_env=False),  # httpx's default: certifi's CAs
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinnedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        extensions = dict(request.extensions)
        addresses: Sequence[str] = extensions.pop(PIN, ())
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        pin = _Pin(url.raw_host.decode("ascii"), port, tuple(addresses))
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        token = _pinned.set(pin)
        try:
            with _httpx_errors(request):
                response = await self._pool.handle_async_request(core)
        finally:
            _pinned.reset(token)
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
