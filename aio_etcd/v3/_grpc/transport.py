"""The gRPC wire under the core: a :class:`~aio_etcd._core.Transport` whose exchanges are gRPC calls.

The core (:class:`~aio_etcd._core.Cluster`) drives it as it drives aiohttp:
``exchange("POST", member + method_path, body=serialized request, ...)``.
The URL's path is the gRPC method path (``/etcdserverpb.KV/Range``), the body
the request message already serialized, and the answer a
:class:`~aio_etcd._core.Response` whose body is the response message as it
came off the wire (status 200), so the attempt loop, member pinning,
failover, replay rules, vigils and the observer apply unchanged, and the
message is parsed once, by the caller's check.

An error etcd answered (a gRPC status with etcd's words) becomes a response
with the HTTP status grpc-gateway would give it and the gateway's error body
(``{"code": ..., "message": ...}``), read by the same
:func:`~aio_etcd.v3.errors.error_from` as the gateway's. A call that never
reached etcd (no connection), broke off, or outlived its time limit is a
:class:`~aio_etcd._core.TransportFailure`, ``sent`` as the core needs it.

One ``grpc.aio`` channel per member (HTTP/2 multiplexes every call on it),
made on first use and closed by :meth:`GrpcTransport.close`. The auth token
travels as the ``token`` metadata key, as etcd's own clients send it.

A unary call's time limit is kept here, not given to grpc as the call's
deadline: a deadline costs grpc a timer of its own per call and etcd a
``grpc-timeout`` header to parse and a context timer (2-3 us of client
CPU a call, 64 at a time, measured alone). Calls with the same limit
end in the order they started, so one loop timer per distinct limit, set for
the first call under way, is enough (:class:`_Limits`): a late call is
cancelled at its time limit, as grpc would have, and is a timed-out
:class:`~aio_etcd._core.TransportFailure`. The cancellation reaches etcd as
the stream's reset, which ends the request's context there as the deadline
did; what etcd no longer knows is the limit of a call whose connection is
gone (then it could not answer anyway).

grpc always checks a member's certificate and name. ``ssl_verify=False`` is
carried by trusting, for each member, the certificate it presents when its
channel is made: a TLS handshake of this module's own (:func:`presented`, no
verification) reads it, and the channel takes it as its only root and checks
a name it holds (``grpc.ssl_target_name_override``). grpc (1.62 and 1.85,
BoringSSL) takes a CA-signed member certificate as a root of its own. Unlike
the gateway's ``ssl_verify=False`` this still refuses an expired
certificate, and one the member changes to while the client runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import math
import ssl
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import grpc

from ..._core import Response, TransportFailure, WebSocket
from ..._core.transport import cancelling
from ...exceptions import EtcdException
from .calls import _header
from .keepalive import PATH as _KEEPALIVE
from .keepalive import KeepAliveStreams
from .messages import METHODS
from .messages import etcdserverpb as pb

__all__ = ["GrpcTransport", "HTTP_STATUS", "WatchStream"]

log = logging.getLogger(__name__)

_GATEWAY_STATUS = "/v3/maintenance/status"
_STATUS = "/etcdserverpb.Maintenance/Status"
_WATCH = "/etcdserverpb.Watch/Watch"
_FILTERS = {"NOPUT": 0, "NODELETE": 1}

#: The HTTP status grpc-gateway answers for a gRPC code (what ``EtcdServerError.status`` says on the gateway).
HTTP_STATUS = {
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}

#: Channel options: no message size limit (etcd's own is its --max-request-bytes and
#: MaxInt32 for answers), a member that comes back is reconnected to within a second, and
#: connections of this client's own (grpc shares them between channels of a process by
#: default: a new client would inherit another's reconnection backoff to a member that was down).
_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
)

#: The statuses grpc itself gives a call broken off after it left (without etcd's words):
#: a reset stream, or "Internal error from Core" for a write on a connection grpc has just
#: closed (grpc/grpc#36066). The member went; etcd said nothing.
_BROKEN_OFF = {grpc.StatusCode.CANCELLED: "Cancelled", grpc.StatusCode.INTERNAL: "Internal"}

#: What grpc says when a call could not be given to any connection: it never left.
_NOT_SENT = ("failed to connect to all addresses", "Connection refused", "DNS resolution failed", "Name resolution")


#: The headers of every answer (gRPC's are not read): one shared empty mapping.
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


class _Limits:
    """The unary calls under way with one time limit, and the one timer that ends the late ones.

    Their ends come in the order they started (the loop's clock only goes
    forward), so the dict, in insertion order, is also in order of their
    ends: the timer is set for the first; when it fires it cancels every call
    past its end and is set again for the first one left.
    """

    __slots__ = ("calls", "expired", "timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        #: call -> the loop time it ends by.
        self.calls: dict[Any, float] = {}
        #: The calls cancelled for their limit (until they have ended).
        self.expired: set[Any] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.loop = loop

    def fire(self) -> None:
        self.timer = None
        now = self.loop.time()
        for rpc, due in self.calls.items():
            if due > now:
                self.timer = self.loop.call_at(due, self.fire)
                return
            if rpc not in self.expired:
                self.expired.add(rpc)
                rpc.cancel()  # what it does takes effect in the call's task, later: the dict stays as it is

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _target(url: str) -> tuple[str, str, bool]:
    """``(member base URL, host:port, tls)`` of ``http(s)://host:port/path``."""
    scheme, _, rest = url.partition("://")
    hostport, _, _path = rest.partition("/")
    return f"{scheme}://{hostport}", hostport, scheme == "https"


def _address(text: str) -> str | None:
    """``text`` as an IP address in its short form (OpenSSL spells ::1 in full), or ``None``."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]")).compressed
    except ValueError:
        return None


def _name_in(peer: Mapping[str, Any], host: str) -> str | None:
    """A name of the certificate ``peer`` (``getpeercert()``) for grpc to check: ``None`` when ``host`` is one."""
    dns: list[str] = []
    addresses: list[str] = []
    for kind, value in peer.get("subjectAltName", ()):
        if kind == "DNS":
            dns.append(str(value).lower())
        elif kind == "IP Address" and _address(str(value)) is not None:
            addresses.append(str(_address(str(value))))
    if not dns and not addresses:
        dns = [str(value).lower() for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
    if _address(host) in addresses or host.lower() in dns:
        return None
    if dns:  # grpc checks the override as the target's name: a wildcard's name is one it covers
        return "x" + dns[0][1:] if dns[0].startswith("*.") else dns[0]
    if addresses:
        return addresses[0]
    raise ssl.SSLError(f"the certificate of {host} names no host")


async def presented(host: str, port: int, client: tuple[str, str] | None, timeout: float) -> tuple[bytes, str | None]:
    """The certificate ``host:port`` presents (PEM), unverified, and the name of it grpc is to check.

    Two handshakes: one that verifies nothing, to read the certificate, and one that trusts
    only it (a partial chain), to read its names (Python shows them only once verified;
    it fails for an expired certificate, which grpc would refuse too).
    """
    blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE
    if client is not None:
        blind.load_cert_chain(*client)
    der = await _handshake(blind, host, port, timeout, binary=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pinned.check_hostname = False
    pinned.load_verify_locations(cadata=pem)
    pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if client is not None:
        pinned.load_cert_chain(*client)
    peer = await _handshake(pinned, host, port, timeout, binary=False)
    return pem.encode(), _name_in(peer, host)


async def _handshake(context: ssl.SSLContext, host: str, port: int, timeout: float, *, binary: bool) -> Any:
    """The peer certificate of one TLS handshake with ``host:port`` (DER, or ``getpeercert()``'s dict)."""
    opened = asyncio.open_connection(host.strip("[]"), port, ssl=context, server_hostname=host.strip("[]"))
    _reader, writer = await asyncio.wait_for(opened, timeout)
    try:
        tls = writer.get_extra_info("ssl_object")
        return tls.getpeercert(binary_form=binary)
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the member may close first: the certificate was read
            await writer.wait_closed()


class GrpcTransport:
    """gRPC calls to etcd members, as the core's :class:`~aio_etcd._core.Transport`.

    :param ca_cert: CA bundle (PEM file) for ``https`` members (default: the system's roots).
    :param cert: client certificate: one PEM file holding certificate and key, or ``(certificate, key)``.
    :param ssl_verify: ``False``: trust the certificate each ``https`` member presents when
        its channel is made, whoever signed it and whatever names it holds (see the module).
    """

    #: Watches share one Watch stream per member: :meth:`websocket` opens one
    #: (:class:`WatchStream`, which speaks the gateway websocket's messages).
    websockets = True

    #: grpc's C core reads the connections on threads of its own, not on the
    #: asyncio loop: a call that must not be sent twice gains nothing by
    #: letting the loop run first (:meth:`aio_etcd._core.Cluster._exchange_once`).
    reads_on_loop = False

    def __init__(
        self,
        *,
        ca_cert: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ssl_verify: bool = True,
        name: str = "",
    ) -> None:
        self.name = name
        self._ca_cert = ca_cert
        self._cert = cert
        self._verify = ssl_verify
        self._credentials: Any = None
        #: ssl_verify=False: per member, the credentials trusting its certificate and the name grpc checks.
        self._pinned: dict[str, tuple[Any, str | None]] = {}
        self._channels: dict[str, Any] = {}
        self._unary: dict[tuple[str, str], Any] = {}
        self._by_url: dict[str, Any] = {}
        self._metadata: tuple[Mapping[str, str] | None, tuple[tuple[str, str], ...]] = (None, ())
        #: The last headers' metadata as grpc takes it (``None``: none), made once for them:
        #: a tuple is made into a ``grpc.aio.Metadata`` at each call (1 us).
        self._call_metadata: tuple[Mapping[str, str] | None, Any] = (None, None)
        self._closed = False
        #: The calls under way by their time limit (seconds).
        self._limits: dict[float, _Limits] = {}
        #: Lease renewals: one LeaseKeepAlive stream per member.
        self.keepalives = KeepAliveStreams(
            lambda base, metadata: self.channel(base).stream_stream(_KEEPALIVE)(metadata=metadata or None), self._failed
        )

    # -- channels ------------------------------------------------------------------------

    def _client_pair(self) -> tuple[bytes | None, bytes | None]:
        """The client certificate chain and key (PEM), or ``(None, None)``."""
        if isinstance(self._cert, tuple):
            return _read(self._cert[0]), _read(self._cert[1])
        if self._cert is not None:
            both = _read(self._cert)  # one PEM file: grpc finds each part in it
            return both, both
        return None, None

    def _tls(self) -> Any:
        if self._credentials is None:
            chain, key = self._client_pair()
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(self._ca_cert), private_key=key, certificate_chain=chain
            )
        return self._credentials

    async def _pin(self, base: str, url: str, timeout: float | None) -> None:
        """ssl_verify=False: learn the certificate ``base`` presents, for its channel (once a channel).

        :raises TransportFailure: the member could not be reached or shook no usable certificate (not sent).
        """
        if self._verify or base in self._channels or not base.startswith("https://"):
            return
        _, hostport, _ = _target(base + "/")
        host, _, port = hostport.rpartition(":")
        client = None
        if self._cert is not None:
            client = self._cert if isinstance(self._cert, tuple) else (self._cert, self._cert)
        try:
            pem, name = await presented(host, int(port), client, timeout if timeout is not None else 10.0)
        except asyncio.TimeoutError as exc:
            raise TransportFailure(url, exc, sent=False, timed_out=True) from exc
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            cause = ConnectionError(f"ssl_verify=False over gRPC: no usable certificate from {base}: {exc}")
            raise TransportFailure(url, cause, sent=False) from exc
        chain, key = self._client_pair()
        credentials = grpc.ssl_channel_credentials(root_certificates=pem, private_key=key, certificate_chain=chain)
        if not self._pinned:  # once a client, as the gateway's transport warns
            log.warning("TLS certificate verification is off for %s (gRPC: each member's own is trusted)", self.name)
        self._pinned[base] = (credentials, name)

    def channel(self, base: str) -> Any:
        """The channel to the member ``base`` (``http(s)://host:port``), made on first use."""
        channel = self._channels.get(base)
        if channel is None:
            if self._closed:
                raise EtcdException("the client is closed")
            _, hostport, tls = _target(base + "/")
            if tls and not self._verify:
                credentials, name = self._pinned[base]  # GrpcTransport._pin learned it
                options = _OPTIONS if name is None else (*_OPTIONS, ("grpc.ssl_target_name_override", name))
                channel = grpc.aio.secure_channel(hostport, credentials, options=options)
            elif tls:
                channel = grpc.aio.secure_channel(hostport, self._tls(), options=_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(hostport, options=_OPTIONS)
            self._channels[base] = channel
        return channel

    def _multicallable(self, base: str, path: str) -> Any:
        key = (base, path)
        call = self._unary.get(key)
        if call is None:
            if path not in METHODS:
                raise EtcdException(f"{path} is not a gRPC method of etcd this client knows")
            # No (de)serializers: the wire sends bytes it serialized and parses the bytes
            # answered (grpc passes both through as they are, two calls less a call).
            call = self.channel(base).unary_unary(path)
            self._unary[key] = call
        return call

    def metadata(self, headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The call's metadata: the auth token (given as ``Authorization``) as ``token``."""
        seen, made = self._metadata
        if headers is seen:
            return made
        pairs = []
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "authorization":
                pairs.append(("token", value))
            elif lowered.startswith("grpc-metadata-"):  # the gateway's way to pass metadata
                pairs.append((lowered[len("grpc-metadata-") :], value))
            elif lowered != "content-type":
                pairs.append((lowered, value))
        made = tuple(pairs)
        self._metadata = (headers, made)
        return made

    # -- the Transport protocol ------------------------------------------------------------

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        stream: bool = False,
        foreign: bool = False,
    ) -> Response:
        """One unary gRPC call: ``url`` is a member's base URL plus the method path."""
        call = self._by_url.get(url)
        if call is None:
            if url.endswith(_GATEWAY_STATUS):
                return await self._gateway_status(url, headers, timeout)
            scheme, _, rest = url.partition("://")
            host, _, path = rest.partition("/")
            base, path = f"{scheme}://{host}", "/" + path
            method_info = METHODS.get(path)
            if not self._verify:
                await self._pin(base, url, timeout)
            if method_info is not None and method_info.client_streaming:  # a lease renewal
                return await self.keepalives.exchange(base, url, body or b"", self.metadata(headers), timeout)
            call = self._by_url[url] = self._multicallable(base, path)
        if stream:  # a lock or a campaign waits as long as it takes (the caller's deadline rules)
            timeout = None
        seen, metadata = self._call_metadata
        if headers is not seen:
            pairs = self.metadata(headers)
            metadata = grpc.aio.Metadata(*pairs) if pairs else None
            self._call_metadata = (headers, metadata)
        rpc = call(body or b"", metadata=metadata)
        if timeout is None or timeout == math.inf:
            try:
                answer = await rpc
            except grpc.aio.AioRpcError as exc:
                return self._failed(exc, url)
            return Response(200, _NO_HEADERS, answer, url)
        limits = self._limits.get(timeout) or self._limits_of(timeout)
        due = limits.loop.time() + max(timeout, 0.0)
        limits.calls[rpc] = due
        if limits.timer is None:
            limits.timer = limits.loop.call_at(due, limits.fire)
        try:
            answer = await rpc
        except grpc.aio.AioRpcError as exc:
            if rpc in limits.expired and exc.code() is grpc.StatusCode.CANCELLED:
                raise TransportFailure(url, asyncio.TimeoutError(), sent=True, timed_out=True) from exc
            return self._failed(exc, url)
        except asyncio.CancelledError:
            if rpc in limits.expired and not cancelling():  # on 3.10: the limit's
                raise TransportFailure(url, asyncio.TimeoutError(), sent=True, timed_out=True) from None
            raise
        finally:
            del limits.calls[rpc]
            if limits.expired:
                limits.expired.discard(rpc)
        return Response(200, _NO_HEADERS, answer, url)

    def _limits_of(self, timeout: float) -> _Limits:
        """The :class:`_Limits` of the calls limited to ``timeout`` seconds, made on first use."""
        if len(self._limits) >= 32:  # limits cut short by a call's deadline: forget the idle ones
            for key, idle in list(self._limits.items()):
                if not idle.calls:
                    idle.close()
                    del self._limits[key]
        limits = self._limits[timeout] = _Limits(asyncio.get_running_loop())
        return limits

    @staticmethod
    def _failed(exc: grpc.aio.AioRpcError, url: str) -> Response:
        """An etcd error as the gateway's error answer; raises for failures below etcd."""
        code = exc.code()
        details = exc.details() or ""
        value = code.value[0]
        if code is grpc.StatusCode.UNAVAILABLE and "etcdserver" not in details:
            sent = not any(words in details for words in _NOT_SENT)
            raise TransportFailure(url, ConnectionError(f"gRPC Unavailable: {details}"), sent=sent) from exc
        if code is grpc.StatusCode.DEADLINE_EXCEEDED and "context deadline exceeded" not in details:
            # This client's own deadline ("Deadline Exceeded", "Stream removed"), not etcd's.
            raise TransportFailure(url, asyncio.TimeoutError(), sent=True, timed_out=True) from exc
        if code in _BROKEN_OFF and "etcdserver" not in details:
            raise TransportFailure(url, ConnectionError(f"gRPC {_BROKEN_OFF[code]}: {details}"), sent=True) from exc
        payload = json.dumps({"code": value, "message": details}).encode()
        return Response(HTTP_STATUS.get(value, 500), {}, payload, url)

    async def _gateway_status(self, url: str, headers: Mapping[str, str], timeout: float | None) -> Response:
        """``/v3/maintenance/status`` as the gateway answers it (the watch probes ask it so)."""
        base = url[: -len(_GATEWAY_STATUS)]
        resp = await self.exchange("POST", base + _STATUS, body=b"", headers=headers, timeout=timeout)
        if resp.status != 200:
            return resp
        status = pb.StatusResponse.FromString(resp.body)
        body = {
            "header": _header(status.header),
            "version": status.version,
            "leader": str(status.leader) if status.leader else "",
            "raftTerm": str(status.raftTerm),
            "raftIndex": str(status.raftIndex),
        }
        return Response(200, {}, json.dumps(body).encode(), url)

    async def open_lines(self, method: str, url: str, **options: Any) -> Response:
        """Not over gRPC (watches, lock and campaign streams are not carried yet)."""
        raise EtcdException(f"{url}: line streams are not available over the gRPC transport")

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> WebSocket:
        """A Watch stream to the member of ``url`` (``base + "/v3/watch"``), as the multiplexer's websocket.

        :raises TransportFailure: no connection to the member within ``timeout`` (``sent`` is False).
        """
        base = url[: -len("/v3/watch")] if url.endswith("/v3/watch") else url
        if not self._verify:
            await self._pin(base, url, timeout)
        channel = self.channel(base)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except asyncio.TimeoutError as exc:
            raise TransportFailure(url, exc, sent=False, timed_out=True) from exc
        metadata = [pair for pair in self.metadata(headers) if pair[0] != "hasleader"]
        metadata.append(("hasleader", "true"))
        call = channel.stream_stream(_WATCH, response_deserializer=pb.WatchResponse.FromString)
        return WatchStream(call(metadata=tuple(metadata)), url)

    async def close(self) -> None:
        """Close every channel (calls under way end). Safe to call twice."""
        self._closed = True
        channels, self._channels = self._channels, {}
        self._unary.clear()
        self._by_url.clear()
        self.keepalives.close()
        for limits in self._limits.values():
            limits.close()
        self._limits.clear()
        for channel in channels.values():
            await channel.close()


class WatchStream:
    """One member's bidirectional Watch stream, speaking the gateway websocket's messages.

    :class:`~aio_etcd.v3._mux.Multiplexer` drives it as it drives a
    websocket: it sends ``{"create_request": ...}`` and ``{"cancel_request": ...}``
    texts, which become ``WatchRequest`` messages; it reads the
    ``WatchResponse`` messages as they are (:mod:`aio_etcd.v3._grpc.watch`). An
    error etcd ends the stream with (no leader: the stream carries
    ``hasleader``) is read as the gateway's error line; a broken stream is a
    :class:`~aio_etcd._core.TransportFailure`.
    """

    def __init__(self, rpc: Any, url: str) -> None:
        self._rpc = rpc
        self.url = url
        self._closed = False
        self._ended = False
        self._writing: asyncio.Lock | None = None

    @property
    def closed(self) -> bool:
        return self._closed or self._ended

    async def send(self, text: str) -> None:
        request = json.loads(text)
        create = request.get("create_request")
        if create is not None:
            message = pb.WatchRequest(
                create_request=pb.WatchCreateRequest(
                    key=_decode(create.get("key")),
                    range_end=_decode(create.get("range_end")),
                    start_revision=int(create.get("start_revision") or 0),
                    progress_notify=bool(create.get("progress_notify")),
                    filters=[_FILTERS[name] for name in create.get("filters") or ()],
                    prev_kv=bool(create.get("prev_kv")),
                    watch_id=int(create.get("watch_id") or 0),
                )
            )
        elif "cancel_request" in request:
            message = pb.WatchRequest(
                cancel_request=pb.WatchCancelRequest(watch_id=int(request["cancel_request"].get("watch_id") or 0))
            )
        else:
            message = pb.WatchRequest(progress_request=pb.WatchProgressRequest())
        data = message.SerializeToString()
        if self._writing is None:
            self._writing = asyncio.Lock()
        try:
            async with self._writing:  # grpc.aio takes one write at a time
                await self._rpc.write(data)
        except grpc.aio.AioRpcError as exc:
            raise TransportFailure(self.url, ConnectionError(exc.details() or str(exc.code())), sent=True) from exc
        except asyncio.InvalidStateError as exc:  # written after the stream ended
            raise TransportFailure(self.url, ConnectionError(f"the watch stream ended: {exc}"), sent=True) from exc

    async def receive(self) -> Any:
        """The next ``WatchResponse`` message, an error line (bytes) etcd ended the stream with, or ``None``."""
        if self._ended:
            return None
        try:
            data = await self._rpc.read()
        except asyncio.CancelledError:
            if self._closed:
                self._ended = True
                return None
            raise
        except grpc.aio.AioRpcError as exc:
            self._ended = True
            details = exc.details() or ""
            if "etcdserver" in details:
                error = {"code": exc.code().value[0], "message": details}
                return json.dumps({"error": error}).encode()
            raise TransportFailure(self.url, ConnectionError(f"gRPC {exc.code().name}: {details}"), sent=True) from exc
        if data is grpc.aio.EOF:
            self._ended = True
            return None
        return data  # a WatchResponse (the multiplexer's socket reads it as it is)

    async def close(self) -> None:
        self._closed = True
        self._rpc.cancel()


def _decode(raw: Any) -> bytes:
    return base64.b64decode(raw) if raw else b""
