#!/usr/bin/env bash
# Vendors the API browser's assets (served at /schema) from npm's swagger-ui-dist,
# pinned to VERSION below, into this folder, and records their SHA-256 in SHA256SUMS
# (tests/http/test_schema_viewer.py checks the files against it).
#
#   consent_svc/web/swagger_ui/fetch.sh          # needs npm and the npm registry
#
# To upgrade: change VERSION, run this, run the tests (the browser test renders the
# viewer under the page's CSP), and note the change in CHANGELOG.md.
# Why vendored and not from a CDN or a PyPI package: docs/adr/0009-api-browser-assets.md.
set -euo pipefail
VERSION=5.35.0
# npm's integrity of swagger-ui-dist-$VERSION.tgz, as `npm view swagger-ui-dist@$VERSION dist.integrity` prints it.
INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tarball="$work/swagger-ui-dist-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
    echo "swagger-ui-dist-$VERSION.tgz: integrity $got, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
# Only what the page loads, and the licences; no source maps, no standalone preset.
files=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE)
for name in "${files[@]}"; do
    cp "$work/package/$name" "$here/$name"
done
echo "$VERSION" >"$here/VERSION"
(cd "$here" && sha256sum "${files[@]}" VERSION >SHA256SUMS)
echo "swagger-ui-dist $VERSION vendored into $here" >&2
