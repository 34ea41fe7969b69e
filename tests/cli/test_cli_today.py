"""aio-etcd on the etcd people run today (3.6 and later have no v2 API): what a user of etcdctl v2 meets there.

The server is etcd 3.7 where ``tools/etcd/build.sh`` built it, else etcd 3.5.1
without its v2 API.
"""

from __future__ import annotations

import pytest
from cli import OURS, run

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster

pytestmark = pytest.mark.timeout(60)


async def test_commands_work_without_choosing_an_api(today: EtcdCluster, etcd_prefix: str) -> None:
    key = etcd_prefix + "/k"
    status, out, err = await run(OURS, ["set", key, "on today's etcd"], url=today.url, env={"AIO_ETCD_API": ""})
    assert (status, out, err) == (0, "on today's etcd\n", "")
    status, out, err = await run(OURS, ["get", key], url=today.url, env={"AIO_ETCD_API": ""})
    assert (status, out, err) == (0, "on today's etcd\n", "")


async def test_asking_for_v2_where_there_is_none_names_the_switch(today: EtcdCluster, etcd_prefix: str) -> None:
    for args, env in ((["--api", "v2"], {}), ([], {"AIO_ETCD_API": "v2"})):
        status, out, err = await run(OURS, [*args, "get", etcd_prefix + "/k"], url=today.url, env=env)
        assert (status, out) == (4, "")
        assert "does not serve the etcd v2 API" in err and "--api auto" in err and "AIO_ETCD_API" in err, err
        assert "Client(" not in err


async def test_the_library_names_its_switch(today: EtcdCluster, etcd_prefix: str) -> None:
    async with today.client(api="v2") as client:
        with pytest.raises(etcd.EtcdException) as caught:
            await client.read(etcd_prefix + "/k")
    message = str(caught.value)
    assert 'api="auto"' in message and 'api="v3"' in message, message
