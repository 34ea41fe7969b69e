#!/usr/bin/env bash
# Build the linearizability checker (main.go, on porcupine from the Go module
# proxy; go.sum pins it) into $AIO_ETCD_BUILDS/../porcupine/ (default
# ~/.cache/aio-etcd/porcupine/), once per version of its sources.
# Prints the path of the binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/aio-etcd"
out="${AIO_ETCD_PORCUPINE_DIR:-$cache/porcupine}"
command -v go >/dev/null || { echo "build.sh: no 'go' command on PATH" >&2; exit 1; }
stamp="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)"
binary="$out/linearizable-$stamp"
if [ ! -x "$binary" ]; then
    mkdir -p "$out"
    echo "building the porcupine checker (modules from ${GOPROXY:-$(go env GOPROXY)})" >&2
    (cd "$here" && CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$binary.new" .)
    mv "$binary.new" "$binary"
fi
echo "$binary"
