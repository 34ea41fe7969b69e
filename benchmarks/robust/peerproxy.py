"""The peer network of a robustness run: one TCP forwarder per etcd member, in its own process.

    python benchmarks/robust/peerproxy.py      (commands on stdin, one per line)

Every member advertises its proxy's port as its peer URL, so every peer
connection to member ``j`` goes through proxy ``j``. The proxy learns which
member opened a connection from the kernel: the connection's source port
names a socket in ``/proc/net/tcp``, whose inode one of the members' processes
holds (``/proc/<pid>/fd``). So a connection is known by (source, destination),
and a member can be cut off completely: a *blackhole* of member ``m`` closes
every connection from or to ``m`` and refuses new ones (accepted, then closed
at once) until it is lifted. While some member is blackholed, a connection
whose source cannot be told is refused too (the network is lossy, never leaky).

Commands (stdin):

- ``listen I PROXY_PORT TARGET_PORT``: forward 127.0.0.1:PROXY_PORT to member I's peer port;
- ``pid I PID``: member I runs as process PID now;
- ``block I`` / ``unblock I``: blackhole member I, or lift it;
- ``quit`` (or end of input): close everything and exit.

Each command is answered with one line, ``ok ...``, on stdout. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

HOST = "127.0.0.1"


class Link:
    """One forwarded connection: a client writer and the upstream writer."""

    def __init__(self, source: int | None, dest: int) -> None:
        self.source = source
        self.dest = dest
        self.writers: list[asyncio.StreamWriter] = []

    def close(self) -> None:
        for writer in self.writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class Proxy:
    def __init__(self) -> None:
        self.targets: dict[int, int] = {}
        self.ports: dict[int, int] = {}
        self.pids: dict[int, int] = {}
        self.blocked: set[int] = set()
        self.links: set[Link] = set()
        self.servers: list[asyncio.AbstractServer] = []
        self.refused = 0
        self.forwarded = 0

    # -- who opened a connection ------------------------------------------------------

    def _inode(self, source_port: int, dest_port: int) -> str | None:
        want_local = f"0100007F:{source_port:04X}"
        want_remote = f"0100007F:{dest_port:04X}"
        try:
            with open("/proc/net/tcp") as table:
                next(table)
                for line in table:
                    fields = line.split()
                    if fields[1] == want_local and fields[2] == want_remote:
                        return fields[9]
        except OSError:
            return None
        return None

    def owner(self, source_port: int, dest_port: int) -> int | None:
        """The member whose process holds the socket 127.0.0.1:source_port -> dest_port."""
        inode = self._inode(source_port, dest_port)
        if inode is None:
            return None
        wanted = f"socket:[{inode}]"
        for member, pid in self.pids.items():
            fd_dir = f"/proc/{pid}/fd"
            try:
                names = os.listdir(fd_dir)
            except OSError:
                continue
            for name in names:
                try:
                    if os.readlink(f"{fd_dir}/{name}") == wanted:
                        return member
                except OSError:
                    continue
        return None

    def cut(self, source: int | None, dest: int) -> bool:
        if dest in self.blocked or source in self.blocked:
            return True
        return source is None and bool(self.blocked)

    # -- forwarding ----------------------------------------------------------------------

    async def serve(self, dest: int, port: int, target: int) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            source = self.owner(peer[1], port) if peer else None
            if self.cut(source, dest):
                self.refused += 1
                writer.transport.abort()
                return
            link = Link(source, dest)
            link.writers.append(writer)
            try:
                up_reader, up_writer = await asyncio.open_connection(HOST, target)
            except OSError:
                writer.transport.abort()
                return
            link.writers.append(up_writer)
            if self.cut(source, dest):  # blocked while connecting
                link.close()
                return
            self.links.add(link)
            self.forwarded += 1
            try:
                await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
            finally:
                self.links.discard(link)
                link.close()

        self.targets[dest] = target
        self.ports[dest] = port
        self.servers.append(await asyncio.start_server(handle, HOST, port, reuse_address=True))

    def block(self, member: int) -> None:
        self.blocked.add(member)
        for link in list(self.links):
            if self.cut(link.source, link.dest):
                self.links.discard(link)
                link.close()

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for link in list(self.links):
            link.close()
        self.links.clear()


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()


async def main() -> None:
    proxy = Proxy()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "quit":
                break
            command, args = line[0], [int(arg) for arg in line[1:]]
            if command == "listen":
                await proxy.serve(*args)
            elif command == "pid":
                proxy.pids[args[0]] = args[1]
            elif command == "block":
                proxy.block(args[0])
            elif command == "unblock":
                proxy.blocked.discard(args[0])
            print(f"ok {command} {' '.join(map(str, args))} forwarded={proxy.forwarded} refused={proxy.refused}")
            sys.stdout.flush()
    finally:
        await proxy.close()


if __name__ == "__main__":
    asyncio.run(main())
