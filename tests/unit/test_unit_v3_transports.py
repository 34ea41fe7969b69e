"""How ``v3.Client(transport=...)`` picks its class: the registry in ``aio_etcd/v3/client.py``
(no etcd needed: no call is made)."""

from __future__ import annotations

import pytest

from aio_etcd import v3
from aio_etcd.v3 import _auto
from aio_etcd.v3 import client as v3_client


class Carrier(v3.Client):
    """A made-up second transport: a subclass, as the gRPC client is."""

    def __init__(self, *members: object, transport: object = None, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.asked = transport

    @property
    def transport(self) -> str:
        return "carrier"


def test_a_transport_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(v3_client.TRANSPORTS, "carrier", (f"{__name__}:Carrier", "carrier"))
    client = v3.Client(transport="carrier")
    assert type(client) is Carrier and client.transport == "carrier" and client.asked == "carrier"
    with pytest.raises(ValueError, match="'auto', 'gateway', 'grpc' or 'carrier' \\(or a Transport\\)"):
        v3.Client(transport="http2")


def test_a_subclass_is_built_as_itself() -> None:
    class Other(v3.Client):
        pass

    assert type(Other()) is Other
    with pytest.raises(ValueError, match=r"transport='grpc' makes the client v3\.Client\(\.\.\.\) itself"):
        Other(transport="grpc")


def test_a_missing_library_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(v3_client.TRANSPORTS, "carrier", ("aio_etcd.v3.no_such_module:Client", "carrier"))
    needs = 'transport="carrier" needs the carrier extra: pip install "aio_etcd\\[carrier\\]"'
    with pytest.raises(ImportError, match=needs):
        v3.Client(transport="carrier")


def test_the_names_of_today() -> None:
    assert list(v3_client.TRANSPORTS) == ["auto", "gateway", "grpc"]
    assert type(v3.Client(transport="gateway")) is v3.Client
    # "auto" (the default) is gRPC where its extra is installed (aio_etcd/v3/_auto.py), else the gateway.
    auto = "gateway" if _auto.grpc_unusable() else "grpc"
    assert v3.Client(transport="auto").transport == v3.Client().transport == auto
    with pytest.raises(ValueError, match="transport is 'auto', 'gateway' or 'grpc' \\(or a Transport\\), not 'http2'"):
        v3.Client(transport="http2")
