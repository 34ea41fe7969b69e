"""aio-etcd against etcd 3.5.1's etcdctl (ETCDCTL_API=2), line by line, on the same server.

Each line of ``LINES`` is run through etcdctl and through ``python -m
aio_etcd`` on one etcd 3.5.1 (v2 API), each run after the same keys were
written under the line's own prefix; their standard output, standard error,
exit status and the keys left under the prefix must be the same, once
indexes, remaining TTL seconds, expiration times, JSON key order and the
order of unsorted listings are set aside. The lines marked ``v3`` are run a
third time, through aio-etcd with its default ``--api auto`` on today's etcd
(3.7 where ``tools/etcd/build.sh`` built it, else 3.5.1 without v2), and must
give what etcdctl gave on 3.5.1.

All lines run at once before the tests look at them (a few at a time, each in
its own prefix), which keeps the module under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from typing import Any

import pytest
from cli import ETCDCTL, OURS, Tls, run
from test_cli_keys import CASES as KEY_CASES
from test_cli_keys import _normalise, _sort_nodes

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster, free_port

pytestmark = pytest.mark.timeout(180)


@dataclasses.dataclass(frozen=True)
class Line:
    """A command line; ``{p}`` is its prefix, ``{url}`` the server, ``{closed}`` a port nobody listens on."""

    words: str
    stdin: str = ""
    #: Also through aio-etcd on today's etcd (v3 only), with --api auto.
    v3: bool = False
    #: What the tools print after the first line of standard output is each one's own usage.
    usage: bool = False
    #: Endpoints are given on the command line: no ETCDCTL_ENDPOINTS.
    own_endpoints: bool = False
    #: Why aio-etcd differs from etcdctl on etcd 3.5.1, if it does (the test is then expected to fail).
    xfail: str = ""

    @property
    def name(self) -> str:
        """The line as a test id."""
        return self.words + (f" <<< {self.stdin!r}" if self.stdin else "")
    #: Why aio-etcd on today's etcd differs from etcdctl on 3.5.1, if it does.
    xfail_today: str = ""
    #: etcdctl command lines run before each tool's run ({n}: the line's number), and after it (to clean up).
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    #: An etcdctl command line whose output after each tool's run is compared too (state outside the keys).
    check: str = ""
    #: Compared on today's etcd only (test_cli_keys.py compares it on 3.5.1 already).
    today_only: bool = False


_UPDATEDIR_TTL = (
    "etcd 3.5.1's v2 store fails to update a directory's TTL (300 Raft Internal Error, which etcdctl reports "
    "as 'has no leader'); on a v3 store the update works"
)
_PLAIN_SECONDS = (
    "aio-etcd also takes plain seconds for --timeout and --total-timeout (its earlier releases took only "
    "them); etcdctl takes only Go durations (5s) and refuses 5"
)
#: test_cli_keys.py's lines that differ on today's etcd, and why.
_TODAY: dict[str, str] = {}
#: test_cli_keys.py's lines that only spell a flag another way: read before the API is chosen.
_FLAG_FORMS = {
    "-o extended set /cli/new v -ttl 30",
    "-o extended set /cli/new v --ttl=30",
    "set --ttl 30 /cli/new v",
    "rm --recursive /cli/d",
    "rm -r /cli/d",
    "ls -r --sort /cli",
    "get -q /cli/k",
}


def _lines() -> list[Line]:
    keys = [
        # reading
        Line("get {p}/k", v3=True),
        Line("-o extended get {p}/k", v3=True),
        Line("-o json get {p}/nope", v3=True),
        Line("get {p}/d", v3=True),
        Line("get", v3=True),
        Line("ls {p} --sort", v3=True),
        Line("ls -r -p --sort {p}", v3=True),
        Line("ls {p}/nope", v3=True),
        # writing
        Line("set {p}/k new", v3=True),
        Line("-o json set {p}/k new --swap-with-value v", v3=True),
        Line("set {p}/k new --swap-with-value wrong", v3=True),
        Line("mk {p}/k v", v3=True),
        Line("mk {p}/new v --ttl 30", v3=True),
        Line("update {p}/nope v", v3=True),
        Line("mkdir {p}/empty", v3=True),
        Line("rm {p}/d", v3=True),
        Line("rm -r {p}/d", v3=True),
        Line("rmdir {p}/d", v3=True),
        Line("setdir {p}/k", v3=True),
        Line("updatedir {p}/k", v3=True),
        Line("updatedir {p}/empty --ttl 30", v3=True, xfail_today=_UPDATEDIR_TTL),
        Line("updatedir {p}/nope", v3=True),
        # a value from standard input, or none
        Line("set {p}/k", stdin="from stdin\n", v3=True),
        Line("set {p}/k", v3=True),
        Line("mk {p}/new", v3=True),
        Line("update {p}/k", v3=True),
        Line("set -- {p}/k -v", v3=True),
    ]
    usage = [
        # argument checks
        Line("exec-watch"),
        Line("exec-watch {p}/k"),
        Line("user passwd"),
        Line("user get"),
        Line("role get"),
        Line("user grant"),
        Line("user grant someone"),
        Line("user grant someone --roles"),
        Line("role grant somerole"),
        Line("role grant somerole --path /x"),
        Line("role grant somerole --path /x --read --write"),
        Line("member add"),
        Line("member add onlyname"),
        Line("member remove"),
        Line("member update 1"),
        Line("member list extra"),
        Line("user list extra"),
        Line("role list extra"),
        Line("auth enable extra"),
        Line("user get a b"),
        Line("user add a:b c"),
        Line("user passwd a b"),
        Line("user remove a b"),
        Line("user grant a b --roles r"),
        Line("user revoke a b --roles r"),
        Line("user grant a b"),
        Line("role add a b"),
        Line("role get a b"),
        Line("role grant"),
        Line("role grant a b --path /x --read"),
        Line("role grant a --path /x --rw"),
        # --roles a,b is one role named "a,b"; --roles given twice grants both
        *(
            Line(
                f"user {verb} u{{n}} {roles}",
                before=("user add u{n}:pw", "role add r{n}a", "role add r{n}b", "role add r{n}a,r{n}b")
                + (("user grant u{n} --roles r{n}a --roles r{n}b",) if verb == "revoke" else ()),
                after=("user remove u{n}", "role remove r{n}a", "role remove r{n}b", "role remove r{n}a,r{n}b"),
                check="user get u{n}",
            )
            for verb in ("grant", "revoke")
            for roles in ("--roles r{n}a,r{n}b", "--roles r{n}a --roles r{n}b")
        ),
        # flag parse errors
        Line("set --ttl abc {p}/k v", v3=True),
        Line("set {p}/k v --ttl", v3=True),
        Line("get --bogus {p}/k", v3=True),
        Line("watch --forever=maybe {p}/k", v3=True),
        Line("ls --sort=x {p}", v3=True),
        Line("rm --with-index x {p}/k", v3=True),
        Line("bogus {p}/k", v3=True),
        Line("--bogus get {p}/k", usage=True, v3=True),
        Line("--timeout abc get {p}/k", usage=True, v3=True),
        Line("--total-timeout 5 get {p}/k", usage=True, xfail=_PLAIN_SECONDS),
        Line("--timeout 0.5 get {p}/k", usage=True, xfail=_PLAIN_SECONDS),
        Line("--total-timeout 5s --timeout 500ms get {p}/k", v3=True),
        Line("-timeout=1s -o=json get {p}/k", v3=True),
        Line("--output json --no-sync get {p}/k", v3=True),
        Line("-o extended --output simple get {p}/k", usage=True),
        Line("-u a --username b get {p}/k", usage=True),
        Line("ls -r --recursive {p}", v3=True),
        Line("get -q --quorum {p}/k", v3=True),
        Line("--endpoints", usage=True, own_endpoints=True),
        # help
        Line("help", usage=True),
        Line("--help", usage=True),
        Line("help get"),
        Line("get --help"),
        Line("set -h {p}/k v"),
        Line("help member"),
        Line("member --help"),
        Line("member list -h"),
        Line("member help remove"),
        Line("user"),
        Line("role --help"),
        Line("auth"),
        Line("auth enable --help"),
        Line("help bogus"),
        Line("member bogus"),
    ]
    connection = [
        Line("--endpoints {closed} get {p}/k", own_endpoints=True),
        Line("--endpoints {closed},{url} get {p}/k", own_endpoints=True),  # failover
        Line("--endpoints {url},{closed} set {p}/k failover", own_endpoints=True),
        Line("--endpoints {bare} get {p}/k", own_endpoints=True),  # no scheme
        Line("--peers {url} get {p}/k", own_endpoints=True),  # etcdctl's deprecated names
        Line("-C {url} get {p}/k", own_endpoints=True),
        Line("--endpoint {url} get {p}/k", own_endpoints=True),
        Line("--endpoints {closed} cluster-health", own_endpoints=True),
        Line("--endpoints {closed} member list", own_endpoints=True),
        Line("--endpoints {url} --timeout 1ns get {p}/k", own_endpoints=True),
        Line("--endpoints {url} --total-timeout 1ns get {p}/k", own_endpoints=True),
        Line("--endpoints {url} --timeout 2s --total-timeout 10s get {p}/k", own_endpoints=True),
        Line("--endpoints {url} --cert-file {cert} get {p}/k", own_endpoints=True),
        Line("--endpoints {url} --ca-file /nonexistent/ca.pem get {p}/k", own_endpoints=True),
        Line("--endpoints {https} get {p}/k", own_endpoints=True),  # https to an http port
        Line("--endpoints {tls_as_http} get {p}/k", own_endpoints=True),  # http to an https port
        Line("--endpoints {tls} get {p}/k", own_endpoints=True),  # the server's CA not given
        Line("--endpoints {tls} --ca-file {ca} --cert-file {cert} --key-file {key} get {p}/k", own_endpoints=True),
        Line("--endpoints {tls} --ca-file {ca} --key-file {key} get {p}/k", own_endpoints=True),
    ]
    cluster = [
        Line("cluster-health", v3=True),
        Line("member list"),
        Line("-o json member list"),
    ]
    seen = {line.words for line in keys + usage + connection + cluster}
    # test_cli_keys.py's table, once more on today's etcd (it compares them on 3.5.1 itself).
    more = [
        Line(case.replace("/cli", "{p}"), v3=True, today_only=True, xfail_today=_TODAY.get(case, ""))
        for case in KEY_CASES
        if case.replace("/cli", "{p}") not in seen and case not in _FLAG_FORMS
    ]
    return keys + usage + connection + cluster + more


LINES = _lines()


async def _setup(client: etcd.Client, prefix: str) -> None:
    with contextlib.suppress(etcd.EtcdKeyNotFound):
        await client.delete(prefix, recursive=True)
    await client.write(f"{prefix}/k", "v")
    await client.write(f"{prefix}/t", "tv", ttl=300)
    await client.write(f"{prefix}/d/a", "1")
    await client.write(f"{prefix}/d/b", "2")
    await client.write(f"{prefix}/d/sub/c", "3")
    await client.write(f"{prefix}/empty", None, dir=True)


async def _state(client: etcd.Client, prefix: str) -> list[tuple[Any, ...]]:
    try:
        tree = await client.read(prefix, recursive=True, sorted=True)
    except etcd.EtcdKeyNotFound:
        return []
    # In-order keys are named after v2's index, or a counter on a v3 store: set the names aside.
    return sorted(
        (re.sub(r"/\d{20}", "/<in-order>", n.key or ""), n.value, n.dir, n.ttl is not None) for n in tree.get_subtree()
    )


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


_PORT = re.compile(r"127\.0\.0\.1:\d+")


def _comparable(result: tuple[int | None, str, str], line: Line, prefix: str, url: str) -> tuple[Any, ...]:
    code, out, err = result
    out = out.replace("etcdctl", "aio-etcd").replace(prefix, "<p>").replace(url, "<url>")
    err = err.replace(prefix, "<p>").replace(url, "<url>")
    if line.usage and out:
        out = out.splitlines(keepends=True)[0]
    # etcdctl races a server closing a TLS handshake: "EOF", or the reset with its local port
    err = re.sub(r"read tcp [\d.:]+->[\d.:]+: read: connection reset by peer", "EOF", err)
    norm_out, norm_err = _normalise(out), _normalise(err)
    if "ls" in line.words.split() or "member list" in line.words:
        # etcd lists in Go's map order unless sorted; member ids are random
        norm_out = sorted(_sort_nodes(item) if not isinstance(item, str) else item for item in norm_out)
        norm_out = [re.sub(r"\b[0-9a-f]{12,16}\b", "ID", str(item)) for item in norm_out]
    if "cluster-health" in line.words:
        norm_out = [re.sub(r"\b[0-9a-f]{12,16}\b", "ID", item) for item in norm_out]
    return code, norm_out, norm_err


@dataclasses.dataclass
class _Servers:
    v2: EtcdCluster
    today: EtcdCluster
    tls: EtcdCluster
    #: CA, client certificate and key files
    ca: str
    cert: str
    key: str


async def _one(line: Line, index: int, servers: _Servers, gate: asyncio.Semaphore) -> dict[str, Any]:
    prefix = f"/vs{index}"
    closed = f"http://127.0.0.1:{free_port()}"
    out: dict[str, Any] = {}
    async with gate:
        for name, tool, server, api in (
            ("etcdctl", ETCDCTL, servers.v2, None),
            ("ours", OURS, servers.v2, None),
            ("ours-today", OURS, servers.today, "auto"),
        ):
            if (name == "ours-today" and not line.v3) or (name == "ours" and line.today_only):
                continue
            url = server.url
            tls = servers.tls.url
            words = line.words.format(
                n=index, p=prefix, url=url, closed=closed, bare=url.removeprefix("http://"),
                https=url.replace("http://", "https://"), tls=tls, tls_as_http=tls.replace("https://", "http://"),
                ca=servers.ca, cert=servers.cert, key=servers.key,
            ).split()  # fmt: skip
            extra = {"n": str(index), "p": prefix}
            for before in line.before:
                await run(ETCDCTL, before.format(**extra).split(), url=url)
            async with server.client(**({"api": "v3"} if api else {})) as client:
                await _setup(client, prefix)
                env = {"AIO_ETCD_API": ""} if api else {}
                result = await run(
                    tool, words, url=None if line.own_endpoints else url, stdin=line.stdin.encode(), env=env,
                    timeout=60,
                )  # fmt: skip
                state: list[Any] = await _state(client, prefix)
                if line.check:
                    state.append(await run(ETCDCTL, line.check.format(**extra).split(), url=url))
                out[name] = (_comparable(result, line, prefix, url), state, result)
                with contextlib.suppress(etcd.EtcdKeyNotFound):
                    await client.delete(prefix, recursive=True)
            for after in line.after:
                await run(ETCDCTL, after.format(**extra).split(), url=url)
    return out


@pytest.fixture(scope="module")
def results(
    etcd_server: EtcdCluster, today: EtcdCluster, tls_server: Tls
) -> dict[str, dict[str, Any]]:
    tls = tls_server
    servers = _Servers(etcd_server, today, tls.cluster, tls.ca, tls.cert, tls.key)

    async def everything() -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(4)
        return await asyncio.gather(*(_one(line, i, servers, gate) for i, line in enumerate(LINES)))

    done = asyncio.run(everything())
    return {line.name: result for line, result in zip(LINES, done, strict=True)}


def _params(today: bool) -> list[Any]:
    params = []
    for line in LINES:
        if (today and not line.v3) or (not today and line.today_only):
            continue
        reason = line.xfail_today if today else line.xfail
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(line, id=line.name, marks=marks))
    return params


@pytest.mark.parametrize("line", _params(today=False))
def test_same_as_etcdctl(results: dict[str, dict[str, Any]], line: Line) -> None:
    got = results[line.name]
    theirs, their_state, their_raw = got["etcdctl"]
    ours, our_state, our_raw = got["ours"]
    assert (ours, our_state) == (theirs, their_state), f"etcdctl: {their_raw}\naio-etcd: {our_raw}"


@pytest.mark.parametrize("line", _params(today=True))
def test_same_on_todays_etcd_with_api_auto(results: dict[str, dict[str, Any]], line: Line) -> None:
    got = results[line.name]
    theirs, their_state, their_raw = got["etcdctl"]
    today, today_state, today_raw = got["ours-today"]
    assert (today, today_state) == (theirs, their_state), f"etcdctl: {their_raw}\non today's etcd: {today_raw}"


def test_the_table_is_large_and_every_line_is_distinct() -> None:
    assert len({line.name for line in LINES}) == len(LINES) >= 90
