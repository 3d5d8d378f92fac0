#!/bin/sh
# Offline check of the kustomize base (docs/user-guide.md, "Running Ursa" > "On Kubernetes"):
#   1. renders it with `kubectl kustomize`;
#   2. validates every rendered object against the Kubernetes 1.27 OpenAPI schemas bundled in
#      the npm package kubernetes-models (JSON schema, ajv; installed into a temporary
#      directory, removed afterwards), plus a few checks of our own (validate.mjs);
#   3. parses it with `kubectl apply --dry-run=client --validate=false` when that works offline.
# Needs kubectl, node >= 18 and npm (registry access for the first install, or a warm npm cache).
# Usage: deploy/kubernetes/validate.sh [kustomize-dir]   (default: this directory)
#        KUBECTL=/path/to/kubectl deploy/kubernetes/validate.sh   (another kubectl, e.g. Debian 12's 1.20)
set -eu
KUBECTL=${KUBECTL:-kubectl}
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

"$KUBECTL" kustomize "$dir" > "$tmp/rendered.yaml"
echo "rendered with $("$KUBECTL" version --client 2>/dev/null | head -1 | cut -c1-60): $(grep -c "^kind:" "$tmp/rendered.yaml") objects"

(cd "$tmp" && npm init -y > /dev/null &&
 npm install --silent --no-audit --no-fund --no-save kubernetes-models@5.1.0 yaml@2.9.1 > npm.log 2>&1) ||
    { cat "$tmp/npm.log"; echo "validate.sh: npm install failed" >&2; exit 1; }
cp "$here/validate.mjs" "$tmp/validate.mjs"
node "$tmp/validate.mjs" "$tmp/rendered.yaml"

# Client-side parse only: without a server kubectl has no schema; --validate=false skips it.
if "$KUBECTL" apply --dry-run=client --validate=false -f "$tmp/rendered.yaml" > "$tmp/kubectl.log" 2>&1; then
    sed 's/^/kubectl: /' "$tmp/kubectl.log"
else
    echo "kubectl apply --dry-run=client could not run offline (it needs a server for API discovery):"
    sed 's/^/  /' "$tmp/kubectl.log" | head -5
fi
