#!/usr/bin/env bash
# Builds FerretDB (the MongoDB wire-protocol server the tests use, see shared/BACKENDS.md) from the Go module
# proxy into .tools/bin/ferretdb, unless it is already there. `go install ...@v1.24.2` alone builds a binary
# that panics at start: FerretDB embeds build/version/version.txt, which only its release tooling writes, so
# we build from a copy of the module with that file added, as FerretDB's build/version docs describe.
set -euo pipefail
version=v1.24.2
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/bin/ferretdb"
source "$root/scripts/tool-version.sh"
if tool_has_version "$dest" "${version}"; then
  exit 0
fi
command -v go >/dev/null || { echo "install-ferretdb: Go is required to build FerretDB" >&2; exit 1; }
src=$(go mod download -json "github.com/FerretDB/FerretDB@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
mkdir -p "$(dirname "$dest")"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$dest" ./cmd/ferretdb)
print_tool_version "$dest"
