"""The gRPC groundwork (aio_etcd/v3/_grpc): the committed descriptor set matches its .proto
sources, and the message classes built from it speak etcd's wire format with a real etcd."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor_pb2

from aio_etcd.testing import EtcdCluster
from aio_etcd.v3._grpc import messages
from aio_etcd.v3._grpc._descriptors import DESCRIPTOR_SET

pb = messages.etcdserverpb
ROOT = Path(__file__).resolve().parents[2]


def _stale_grpc_event(context: dict[str, Any]) -> bool:
    """grpc.aio's poller handing an event of a call of an earlier test to that test's closed loop.

    grpc.aio serves every event loop of the process from one completion queue; a cancelled call's
    last events can come after ``cancel()`` and ``code()`` have returned (they answer locally),
    and after the test's loop has closed: the next test's loop then reports "Event loop is
    closed" from ``PollerCompletionQueue._handle_events``. Nothing of the current test is lost;
    with one loop per process (an application) it cannot happen. Only this report is let through.
    """
    handle = repr(context.get("handle", ""))
    exc = context.get("exception")
    return "PollerCompletionQueue._handle_events" in handle and "Event loop is closed" in str(exc)


@pytest.fixture(autouse=True)
async def _no_loop_errors() -> AsyncIterator[None]:
    """conftest's check, but for the report above (this module's tests all open gRPC calls)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    unexpected = [context for context in seen if not _stale_grpc_event(context)]
    assert not unexpected, f"the event loop reported: {unexpected}"


def _build_tool() -> Any:
    spec = importlib.util.spec_from_file_location("build_descriptors", ROOT / "tools/grpc/build_descriptors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_descriptor_set_matches_the_proto_sources() -> None:
    """Regenerate with protoc in a temporary directory: the same files, messages, fields and methods."""
    import base64

    tool = _build_tool()
    fresh = descriptor_pb2.FileDescriptorSet.FromString(tool.compile_protos())
    committed = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(DESCRIPTOR_SET))
    assert [f.name for f in fresh.file] == [f.name for f in committed.file]
    assert fresh == committed, "run tools/grpc/build_descriptors.py and commit aio_etcd/v3/_grpc/_descriptors.py"


def test_the_v3_client_loads_no_grpc_module() -> None:
    """A gateway client keeps grpc and protobuf out of its process ("auto" imports them to choose)."""
    probe = (
        "import sys\nfrom aio_etcd import v3\nv3.Client('http://127.0.0.1:1', transport='gateway')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google') or '_grpc' in m))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_wire_format_facts() -> None:
    """A few of etcd's field numbers and method paths, spelled out, so a typo in a .proto file fails here."""
    kv = messages.mvccpb.KeyValue.DESCRIPTOR
    assert [(f.name, f.number) for f in kv.fields] == [
        ("key", 1), ("create_revision", 2), ("mod_revision", 3), ("version", 4), ("value", 5), ("lease", 6),
    ]  # fmt: skip
    assert pb.Compare.DESCRIPTOR.fields_by_name["range_end"].number == 64
    assert pb.WatchResponse.DESCRIPTOR.fields_by_name["events"].number == 11
    assert pb.RangeRequest.DESCRIPTOR.fields_by_name["max_create_revision"].number == 13
    kinds = {path: m.kind for path, m in messages.METHODS.items()}
    assert kinds["/etcdserverpb.KV/Range"] == "unary_unary"
    assert kinds["/etcdserverpb.Watch/Watch"] == "stream_stream"
    assert kinds["/etcdserverpb.Lease/LeaseKeepAlive"] == "stream_stream"
    assert kinds["/v3electionpb.Election/Observe"] == "unary_stream"
    assert kinds["/etcdserverpb.Maintenance/Snapshot"] == "unary_stream"
    assert kinds["/v3lockpb.Lock/Lock"] == "unary_unary"
    # a known encoding: PutRequest{key="a", value="b", prev_kv=true}
    assert pb.PutRequest(key=b"a", value=b"b", prev_kv=True).SerializeToString() == b"\n\x01a\x12\x01b\x20\x01"


def test_round_trip_of_nested_messages() -> None:
    txn = pb.TxnRequest(
        compare=[pb.Compare(key=b"k", target=pb.Compare.VALUE, result=pb.Compare.NOT_EQUAL, value=b"\0\xff")],
        success=[pb.RequestOp(request_put=pb.PutRequest(key=b"k", value=b"v", lease=2**62))],
        failure=[pb.RequestOp(request_txn=pb.TxnRequest(success=[pb.RequestOp(request_range=pb.RangeRequest())]))],
    )
    again = pb.TxnRequest.FromString(txn.SerializeToString())
    assert again == txn
    assert again.compare[0].WhichOneof("target_union") == "value"
    assert again.success[0].request_put.lease == 2**62
    assert again.failure[0].request_txn.success[0].WhichOneof("request") == "request_range"


def test_private_pool_leaves_the_default_pool_alone() -> None:
    from google.protobuf import descriptor_pool

    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("etcdserverpb.RangeRequest")
    assert messages.POOL.FindMessageTypeByName("etcdserverpb.RangeRequest").full_name == "etcdserverpb.RangeRequest"


def test_another_librarys_etcd_messages_do_not_clash() -> None:
    """A generated etcd module (aetcd's, etcd3-async-client's) fills the default pool with mvccpb and
    etcdserverpb: importing ours beside it must work (two such libraries cannot share a process)."""
    probe = (
        "from google.protobuf import descriptor_pb2, descriptor_pool\n"
        "theirs = descriptor_pb2.FileDescriptorProto(name='etcd/api/mvccpb/kv.proto', package='mvccpb')\n"
        "theirs.message_type.add(name='KeyValue').field.add(name='key', number=1, type=12, label=1)\n"
        "descriptor_pool.Default().Add(theirs)\n"
        "from aio_etcd.v3._grpc import messages\n"
        "print(messages.mvccpb.KeyValue(key=b'k', version=3).SerializeToString().hex())"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0a016b2003"


# -- against a real etcd ------------------------------------------------------------------


async def ended(call: Any) -> None:
    """Cancel a streaming call and wait until grpc.aio is done with it: a call still ending when its
    event loop closes reaches the next test's loop ("Event loop is closed" from grpc's poller)."""
    call.cancel()
    assert await call.code() == grpc.StatusCode.CANCELLED


@pytest_asyncio.fixture
async def channel(etcd_v3_server: EtcdCluster) -> AsyncIterator[Any]:
    target = etcd_v3_server.url.split("://", 1)[1]
    async with grpc.aio.insecure_channel(target) as chan:
        yield chan


async def test_kv_calls_on_etcd(channel: Any, etcd_prefix: str) -> None:
    put = messages.bind(channel, "/etcdserverpb.KV/Put")
    get = messages.bind(channel, "/etcdserverpb.KV/Range")
    txn = messages.bind(channel, "/etcdserverpb.KV/Txn")
    delete = messages.bind(channel, "/etcdserverpb.KV/DeleteRange")
    prefix = etcd_prefix.encode()
    first = await put(pb.PutRequest(key=prefix + b"/a", value=b"\0one"))
    assert first.header.revision > 0 and first.header.cluster_id != 0
    again = await put(pb.PutRequest(key=prefix + b"/a", value=b"two", prev_kv=True))
    assert again.prev_kv.value == b"\0one" and again.header.revision == first.header.revision + 1
    await put(pb.PutRequest(key=prefix + b"/b", value=b"b"))
    found = await get(pb.RangeRequest(key=prefix + b"/", range_end=prefix + b"0", sort_order=pb.RangeRequest.DESCEND))
    expected = [(prefix + b"/b", b"b", 1), (prefix + b"/a", b"two", 2)]
    assert [(kv.key, kv.value, kv.version) for kv in found.kvs] == expected
    assert found.count == 2 and not found.more
    done = await txn(
        pb.TxnRequest(
            compare=[pb.Compare(key=prefix + b"/a", target=pb.Compare.VERSION, result=pb.Compare.EQUAL, version=2)],
            success=[pb.RequestOp(request_range=pb.RangeRequest(key=prefix + b"/a"))],
        )
    )
    assert done.succeeded and done.responses[0].response_range.kvs[0].value == b"two"
    gone = await delete(pb.DeleteRangeRequest(key=prefix + b"/", range_end=prefix + b"0"))
    assert gone.deleted == 2


async def test_an_etcd_error_is_a_grpc_status(channel: Any) -> None:
    revoke = messages.bind(channel, "/etcdserverpb.Lease/LeaseRevoke")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await revoke(pb.LeaseRevokeRequest(ID=0x7FFF_0000_0000_0001))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "requested lease not found" in (caught.value.details() or "")


async def test_many_watches_on_one_stream(channel: Any, etcd_prefix: str) -> None:
    """etcd's Watch is one bidi stream for many watches, told apart by watch_id."""
    stream = messages.bind(channel, "/etcdserverpb.Watch/Watch")()
    keys = [f"{etcd_prefix}/w{i}".encode() for i in range(3)]
    for i, key in enumerate(keys, 1):
        await stream.write(pb.WatchRequest(create_request=pb.WatchCreateRequest(key=key, watch_id=i, prev_kv=True)))
    created = [await stream.read() for _ in keys]
    assert sorted(r.watch_id for r in created) == [1, 2, 3] and all(r.created for r in created)
    put = messages.bind(channel, "/etcdserverpb.KV/Put")
    await put(pb.PutRequest(key=keys[1], value=b"x"))
    event = await stream.read()
    assert event.watch_id == 2 and event.events[0].type == messages.mvccpb.Event.PUT
    assert event.events[0].kv.key == keys[1] and event.events[0].kv.value == b"x"
    await stream.write(pb.WatchRequest(cancel_request=pb.WatchCancelRequest(watch_id=2)))
    assert (await stream.read()).canceled
    await ended(stream)  # etcd keeps a Watch stream open after the client's half-close: cancel it


async def test_lock_and_status(channel: Any, etcd_prefix: str) -> None:
    lock = messages.bind(channel, "/v3lockpb.Lock/Lock")
    unlock = messages.bind(channel, "/v3lockpb.Lock/Unlock")
    grant = messages.bind(channel, "/etcdserverpb.Lease/LeaseGrant")
    status = messages.bind(channel, "/etcdserverpb.Maintenance/Status")
    lease = await grant(pb.LeaseGrantRequest(TTL=10))
    held = await lock(messages.v3lockpb.LockRequest(name=etcd_prefix.encode(), lease=lease.ID))
    assert held.key.startswith(etcd_prefix.encode() + b"/")
    await unlock(messages.v3lockpb.UnlockRequest(key=held.key))
    answer = await status(pb.StatusRequest())
    assert answer.version.startswith("3.") and answer.leader == answer.header.member_id


async def test_election_on_etcd(channel: Any, etcd_prefix: str) -> None:
    el = messages.v3electionpb
    grant = messages.bind(channel, "/etcdserverpb.Lease/LeaseGrant")
    revoke = messages.bind(channel, "/etcdserverpb.Lease/LeaseRevoke")
    lease = await grant(pb.LeaseGrantRequest(TTL=30))
    name = etcd_prefix.encode()
    won = await messages.bind(channel, "/v3electionpb.Election/Campaign")(
        el.CampaignRequest(name=name, lease=lease.ID, value=b"first")
    )
    assert won.leader.name == name and won.leader.lease == lease.ID and won.leader.key.startswith(name + b"/")
    observe = messages.bind(channel, "/v3electionpb.Election/Observe")(el.LeaderRequest(name=name))
    assert (await observe.read()).kv.value == b"first"
    await messages.bind(channel, "/v3electionpb.Election/Proclaim")(el.ProclaimRequest(leader=won.leader, value=b"2"))
    assert (await observe.read()).kv.value == b"2"
    leader = await messages.bind(channel, "/v3electionpb.Election/Leader")(el.LeaderRequest(name=name))
    assert (leader.kv.key, leader.kv.lease) == (won.leader.key, lease.ID)
    await messages.bind(channel, "/v3electionpb.Election/Resign")(el.ResignRequest(leader=won.leader))
    await ended(observe)
    await revoke(pb.LeaseRevokeRequest(ID=lease.ID))


async def test_lease_keepalive_stream_and_time_to_live(channel: Any, etcd_prefix: str) -> None:
    grant = messages.bind(channel, "/etcdserverpb.Lease/LeaseGrant")
    lease = await grant(pb.LeaseGrantRequest(TTL=20))
    await messages.bind(channel, "/etcdserverpb.KV/Put")(pb.PutRequest(key=etcd_prefix.encode(), lease=lease.ID))
    keepalive = messages.bind(channel, "/etcdserverpb.Lease/LeaseKeepAlive")()
    for _ in range(2):
        await keepalive.write(pb.LeaseKeepAliveRequest(ID=lease.ID))
        answer = await keepalive.read()
        assert (answer.ID, answer.TTL) == (lease.ID, 20)
    await ended(keepalive)
    ttl = await messages.bind(channel, "/etcdserverpb.Lease/LeaseTimeToLive")(
        pb.LeaseTimeToLiveRequest(ID=lease.ID, keys=True)
    )
    assert ttl.grantedTTL == 20 and 0 < ttl.TTL <= 20 and list(ttl.keys) == [etcd_prefix.encode()]
    leases = await messages.bind(channel, "/etcdserverpb.Lease/LeaseLeases")(pb.LeaseLeasesRequest())
    assert lease.ID in [s.ID for s in leases.leases]
    await messages.bind(channel, "/etcdserverpb.Lease/LeaseRevoke")(pb.LeaseRevokeRequest(ID=lease.ID))


async def test_auth_users_roles_and_members(channel: Any, etcd_prefix: str) -> None:
    """Users and roles can be managed while auth is off: authpb's Permission round-trips through etcd."""
    name = etcd_prefix.strip("/")
    call = {m: messages.bind(channel, f"/etcdserverpb.Auth/{m}") for m in ("UserAdd", "RoleAdd", "UserGrantRole")}
    await call["UserAdd"](pb.AuthUserAddRequest(name=name, options=messages.authpb.UserAddOptions(no_password=True)))
    await call["RoleAdd"](pb.AuthRoleAddRequest(name=name))
    perm = messages.authpb.Permission(permType=messages.authpb.Permission.READWRITE, key=b"/a", range_end=b"/b")
    await messages.bind(channel, "/etcdserverpb.Auth/RoleGrantPermission")(
        pb.AuthRoleGrantPermissionRequest(name=name, perm=perm)
    )
    await call["UserGrantRole"](pb.AuthUserGrantRoleRequest(user=name, role=name))
    role = await messages.bind(channel, "/etcdserverpb.Auth/RoleGet")(pb.AuthRoleGetRequest(role=name))
    assert list(role.perm) == [perm]
    user = await messages.bind(channel, "/etcdserverpb.Auth/UserGet")(pb.AuthUserGetRequest(name=name))
    assert list(user.roles) == [name]
    status = await messages.bind(channel, "/etcdserverpb.Auth/AuthStatus")(pb.AuthStatusRequest())
    assert not status.enabled
    await messages.bind(channel, "/etcdserverpb.Auth/UserDelete")(pb.AuthUserDeleteRequest(name=name))
    await messages.bind(channel, "/etcdserverpb.Auth/RoleDelete")(pb.AuthRoleDeleteRequest(role=name))
    members = await messages.bind(channel, "/etcdserverpb.Cluster/MemberList")(pb.MemberListRequest())
    (member,) = members.members
    assert members.header.member_id == member.ID and member.clientURLs and member.name
