"""Finding a cluster's members through DNS SRV records (aiodns)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiodns
import aiodns.error

from ..exceptions import EtcdConnectionFailed, EtcdException
from .members import Members, member_url
from .timeouts import within

__all__ = ["SrvMembers", "discover", "srv_names"]

log = logging.getLogger(__name__)

#: DNS answers that mean "no such record", as opposed to a failed lookup.
_NO_RECORD = frozenset(
    code
    for code in (
        getattr(aiodns.error, "ARES_ENOTFOUND", None),
        getattr(aiodns.error, "ARES_ENODATA", None),
        getattr(aiodns.error, "ARES_ENONAME", None),
    )
    if code is not None
)


def srv_names(domain: str, protocol: str) -> list[str]:
    """The SRV names to try, in order, for ``domain`` and ``protocol``.

    ``_etcd-client-ssl._tcp`` for https, ``_etcd-client._tcp`` for http, then the
    legacy ``_etcd._tcp`` that the 2018 README names.
    """
    domain = domain.strip(".")
    first = "_etcd-client-ssl._tcp" if protocol == "https" else "_etcd-client._tcp"
    return [f"{first}.{domain}", f"_etcd._tcp.{domain}"]


def _resolver(nameservers: Sequence[str] | None) -> aiodns.DNSResolver:
    if not nameservers:
        return aiodns.DNSResolver()
    hosts: list[str] = []
    ports: set[int] = set()
    for server in nameservers:
        host, port = _split_server(server)
        hosts.append(host)
        ports.add(port)
    if len(ports) > 1:
        raise ValueError(f"all SRV name servers must use the same port, not {sorted(ports)}")
    (port,) = ports
    return aiodns.DNSResolver(nameservers=hosts, udp_port=port, tcp_port=port)


def _split_server(server: str) -> tuple[str, int]:
    """``"1.2.3.4"``, ``"1.2.3.4:5353"``, ``"::1"`` or ``"[::1]:5353"`` -> host, port."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 53


async def discover(
    domain: str,
    protocol: str,
    *,
    nameservers: Sequence[str] | None = None,
    timeout: float = 5.0,
) -> list[tuple[str, int]]:
    """The ``(host, port)`` of each member that ``domain``'s SRV records name.

    Records are ordered by priority (lowest first), then by weight (highest
    first). The first of :func:`srv_names` that has records wins.

    :param nameservers: DNS servers to ask (``"ip"`` or ``"ip:port"``)
        instead of the system's.
    :raises EtcdException: no name had a record (the message lists the names tried).
    :raises EtcdConnectionFailed: the DNS lookup itself failed.
    """
    resolver = _resolver(nameservers)
    tried: list[str] = []
    try:
        for name in srv_names(domain, protocol):
            tried.append(name)
            try:
                result = await _query(resolver, name, timeout)
            except asyncio.TimeoutError as exc:
                raise EtcdConnectionFailed(f"SRV lookup of {name} got no answer in {timeout}s", cause=exc) from exc
            except aiodns.error.DNSError as exc:
                code = exc.args[0] if exc.args else None
                if code in _NO_RECORD:
                    log.debug("no SRV record at %s", name)
                    continue
                raise EtcdConnectionFailed(f"SRV lookup of {name} failed: {exc}", cause=exc) from exc
            if result:
                log.debug("SRV %s: %s", name, result)
                return result
    finally:
        await resolver.close()
    raise EtcdException(f"no etcd SRV record found for {domain!r}; tried {', '.join(tried)}")


async def _query(resolver: aiodns.DNSResolver, name: str, timeout: float) -> list[tuple[str, int]]:
    answer = await within(resolver.query_dns(name, "SRV"), timeout)
    records = []
    for record in answer.answer:
        data = record.data
        if all(hasattr(data, field) for field in ("priority", "weight", "port", "target")):
            records.append((data.priority, -data.weight, data.target.rstrip("."), data.port))  # type: ignore[union-attr]
    records.sort()
    return [(target, port) for _, _, target, port in records]


class SrvMembers:
    """A cluster's members named by SRV records of ``domain``: looked up once, on first use.

    Both clients hold one when given ``srv_domain``; :meth:`apply` is safe to
    await from many calls at once (one lookup).
    """

    def __init__(self, domain: str, protocol: str, nameservers: Sequence[str] | None = None) -> None:
        self.domain = domain
        self.protocol = protocol
        self.nameservers = list(nameservers) if nameservers else None
        #: True once the lookup succeeded.
        self.done = False
        self._lock: asyncio.Lock | None = None

    async def apply(self, cluster: Members) -> None:
        """Look the members up (unless done) and give them to ``cluster``."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.done:
                return
            found = await discover(self.domain, self.protocol, nameservers=self.nameservers)
            cluster.set_members([member_url(self.protocol, host, port) for host, port in found])
            self.done = True
            log.info("discovered etcd members through SRV records of %s: %s", self.domain, found)
