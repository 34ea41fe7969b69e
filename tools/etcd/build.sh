#!/usr/bin/env bash
# Build etcd and etcdctl of the pinned 3.6.x and 3.7.x releases from the Go
# module proxy, for tests on the etcd people run today (docs/testing.rst).
#
#   tools/etcd/build.sh [VERSION ...]     (default: every version in tools/etcd/)
#
# Each version's go.mod and go.sum (tools/etcd/<version>/) pin every module,
# so nothing but modules is downloaded (through GOPROXY; go.sum checks them).
# The binaries go to $AIO_ETCD_BUILDS/<version>/ (default
# ~/.cache/aio-etcd/etcd/<version>/), where aio_etcd.testing finds them
# (EtcdCluster(version="3.6")); a version already built is not built again.
# Prints one line per version: the version and its etcd binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${AIO_ETCD_BUILDS:-${XDG_CACHE_HOME:-$HOME/.cache}/aio-etcd/etcd}"
command -v go >/dev/null || { echo "build.sh: no 'go' command on PATH (Go 1.26 builds these)" >&2; exit 1; }

# Whether binary $1 says it is etcd $2. Its whole output is read first: in
# `etcd --version | grep -q` grep leaves at the first match, etcd's next line
# then gets SIGPIPE, and pipefail fails the check of a binary that is right.
is_version() {
    local said
    said="$("$1" --version 2>/dev/null)" || return 1
    grep -qx "etcd Version: $2" <<< "$said"
}

if [ "$#" -eq 0 ]; then
    set -- $(cd "$here" && ls -d [0-9]*.[0-9]*.[0-9]* | sort -V)
fi
for version in "$@"; do
    src="$here/$version"
    [ -f "$src/go.mod" ] || { echo "build.sh: no pinned build for etcd $version in $here" >&2; exit 1; }
    dest="$out/$version"
    if [ -x "$dest/etcd" ] && [ -x "$dest/etcdctl" ] \
        && is_version "$dest/etcd" "$version"; then
        echo "$version $dest/etcd"
        continue
    fi
    mkdir -p "$dest"
    echo "building etcd $version (modules from ${GOPROXY:-$(go env GOPROXY)})" >&2
    (
        cd "$src"
        export CGO_ENABLED=0
        go build -mod=readonly -trimpath -o "$dest/etcd.new" go.etcd.io/etcd/server/v3
        go build -mod=readonly -trimpath -o "$dest/etcdctl.new" go.etcd.io/etcd/etcdctl/v3
    )
    mv "$dest/etcd.new" "$dest/etcd"
    mv "$dest/etcdctl.new" "$dest/etcdctl"
    is_version "$dest/etcd" "$version" \
        || { echo "build.sh: $dest/etcd does not say it is etcd $version" >&2; exit 1; }
    echo "$version $dest/etcd"
done
