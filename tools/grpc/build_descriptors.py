"""Compile aio_etcd's own .proto files into the descriptor set the gRPC transport loads.

    python tools/grpc/build_descriptors.py           # rewrite aio_etcd/v3/_grpc/_descriptors.py
    python tools/grpc/build_descriptors.py --check   # exit 1 if the committed one is stale

The sources are aio_etcd/v3/_grpc/protos/*.proto (etcd's wire format, written
for this project). protoc (from grpcio-tools, else a ``protoc`` on PATH)
turns them into a serialized ``FileDescriptorSet`` without source info; the
result is committed as base64 in a Python module, so a user needs neither
protoc nor generated ``_pb2`` modules: at run time the set is loaded into a
private descriptor pool and the message classes are built from it
(aio_etcd/v3/_grpc/messages.py). Nothing generated depends on the protobuf
runtime's version.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "aio_etcd" / "v3" / "_grpc" / "protos"
OUTPUT = ROOT / "aio_etcd" / "v3" / "_grpc" / "_descriptors.py"
# Dependencies first: the pool is filled in this order.
FILES = ["mvccpb.proto", "authpb.proto", "etcdserverpb.proto", "v3lockpb.proto", "v3electionpb.proto"]

HEADER = '''"""etcd's v3 services as a serialized FileDescriptorSet (base64). Generated: do not edit.

Made by tools/grpc/build_descriptors.py from aio_etcd/v3/_grpc/protos/*.proto
({files}).
"""

DESCRIPTOR_SET = (
'''


def compile_protos() -> bytes:
    """The FileDescriptorSet of FILES, serialized, as protoc makes it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "etcd.fds"
        args = [f"--proto_path={PROTOS}", f"--descriptor_set_out={out}", *FILES]
        try:
            from grpc_tools import protoc  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            binary = shutil.which("protoc")
            if binary is None:
                sys.exit("needs grpcio-tools (pip install grpcio-tools) or protoc on PATH")
            subprocess.run([binary, *args], check=True)
        else:
            if protoc.main(["protoc", *args]) != 0:
                sys.exit("protoc failed")
        return out.read_bytes()


def render(blob: bytes) -> str:
    text = base64.b64encode(blob).decode()
    lines = [f'    b"{text[i : i + 96]}"\n' for i in range(0, len(text), 96)]
    return HEADER.format(files=", ".join(FILES)) + "".join(lines) + ")\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed module, write nothing")
    args = parser.parse_args()
    fresh = render(compile_protos())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != fresh:
            sys.exit(f"{OUTPUT.relative_to(ROOT)} is stale: run {Path(__file__).relative_to(ROOT)}")
        print("up to date")
        return
    OUTPUT.write_text(fresh)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
