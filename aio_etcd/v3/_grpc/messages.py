"""etcd's v3 message classes and gRPC methods, built at import from the committed descriptor set.

``messages.etcdserverpb.RangeRequest``, ``messages.mvccpb.KeyValue``... are
ordinary protobuf message classes (``SerializeToString``, ``FromString``,
keyword construction), made by the installed protobuf runtime from
descriptors in a pool of our own: another library's etcd definitions in the
default pool cannot clash with them, and no generated code checks the
runtime's version. :data:`METHODS` names each RPC by its gRPC path with its
kind and message classes; :func:`bind` turns one into a callable on a
``grpc.aio.Channel`` (no generated stubs either).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper  # what generated code uses too

from ._descriptors import DESCRIPTOR_SET

# protobuf >= 4.21 has GetMessageClass (the only spelling from 5.x on); before, a factory's GetPrototype.
_message_class: Any = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory().GetPrototype

__all__ = ["METHODS", "POOL", "Method", "authpb", "bind", "etcdserverpb", "mvccpb", "v3electionpb", "v3lockpb"]

PACKAGES = ("mvccpb", "authpb", "etcdserverpb", "v3lockpb", "v3electionpb")


def _load() -> tuple[Any, descriptor_pb2.FileDescriptorSet]:
    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(DESCRIPTOR_SET))
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:
        pool.Add(proto)
    return pool, files


POOL, _FILES = _load()


def _classes(package: str) -> SimpleNamespace:
    """Every message and enum of one package (nested ones under their parent: ``RangeRequest.SortOrder``).

    An enum is a wrapper as generated code has (``AlarmType.Value("NOSPACE")``, ``AlarmType.Name(1)``).
    """
    space = SimpleNamespace()
    for proto in _FILES.file:
        if proto.package != package:
            continue
        for message in proto.message_type:
            setattr(space, message.name, _message_class(POOL.FindMessageTypeByName(f"{package}.{message.name}")))
        for enum in proto.enum_type:
            setattr(space, enum.name, EnumTypeWrapper(POOL.FindEnumTypeByName(f"{package}.{enum.name}")))
    return space


mvccpb = _classes("mvccpb")
authpb = _classes("authpb")
etcdserverpb = _classes("etcdserverpb")
v3lockpb = _classes("v3lockpb")
v3electionpb = _classes("v3electionpb")


@dataclass(frozen=True)
class Method:
    """One RPC: ``path`` is its gRPC method path (``/etcdserverpb.KV/Range``)."""

    path: str
    request: Any  # message class
    response: Any  # message class
    client_streaming: bool
    server_streaming: bool

    @property
    def kind(self) -> str:
        """``unary_unary``, ``unary_stream``, ``stream_unary`` or ``stream_stream``: the Channel method to use."""
        return f"{'stream' if self.client_streaming else 'unary'}_{'stream' if self.server_streaming else 'unary'}"


def _methods() -> dict[str, Method]:
    table: dict[str, Method] = {}
    for proto in _FILES.file:
        for service in proto.service:
            for rpc in service.method:
                path = f"/{proto.package}.{service.name}/{rpc.name}"
                table[path] = Method(
                    path,
                    _message_class(POOL.FindMessageTypeByName(rpc.input_type.lstrip("."))),
                    _message_class(POOL.FindMessageTypeByName(rpc.output_type.lstrip("."))),
                    rpc.client_streaming,
                    rpc.server_streaming,
                )
    return table


METHODS: dict[str, Method] = _methods()
"""Every RPC of the descriptor set by gRPC path."""


def bind(channel: Any, path: str) -> Any:
    """``METHODS[path]`` as a multicallable of ``channel`` (a ``grpc.aio.Channel``) that takes and gives messages."""
    method = METHODS[path]
    make = getattr(channel, method.kind)
    return make(
        path,
        request_serializer=method.request.SerializeToString,
        response_deserializer=method.response.FromString,
    )
