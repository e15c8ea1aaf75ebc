#!/usr/bin/env bash
# Builds actionlint (rhysd/actionlint, the GitHub Actions workflow linter) from the Go module proxy into
# .tools/bin/actionlint, unless that version is already there. Neither npm nor Debian ships it; `npm test`
# runs it on .github/workflows/ (test/unit/deploy-files.test.ts).
set -euo pipefail
version=v1.7.12
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/bin/actionlint"
source "$root/scripts/tool-version.sh"
if tool_has_version "$dest" "${version#v}"; then
  exit 0
fi
command -v go >/dev/null || { echo "install-actionlint: Go is required to build actionlint" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
GOBIN="$(dirname "$dest")" CGO_ENABLED=0 go install -trimpath "github.com/rhysd/actionlint/cmd/actionlint@${version}"
print_tool_version "$dest"
