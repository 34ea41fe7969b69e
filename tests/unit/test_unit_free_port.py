"""``free_port`` never hands out one port twice in a row, even when the kernel does."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from aio_etcd import testing


class _Kernel:
    """A stand-in for ``socket.socket`` whose ``bind(0)`` gives the ports of a script."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def __call__(self, *args: Any) -> _Socket:
        return _Socket(self.ports.pop(0))


class _Socket:
    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, address: tuple[str, int]) -> None:
        pass

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_the_kernel_gives_twice_is_handed_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "_HANDED_OUT", type(testing._HANDED_OUT)(maxlen=1024))
    monkeypatch.setattr(testing.socket, "socket", _Kernel([42919, 42919, 42919, 49953]))
    assert [testing.free_port(), testing.free_port()] == [42919, 49953]


def test_a_kernel_that_gives_only_one_port_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "_HANDED_OUT", type(testing._HANDED_OUT)(maxlen=1024))
    monkeypatch.setattr(testing.socket, "socket", _Kernel([5000] * 101))
    assert testing.free_port() == 5000
    with pytest.raises(OSError, match="no free port"):
        testing.free_port()


def test_ports_are_distinct_and_bindable() -> None:
    ports = [testing.free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
