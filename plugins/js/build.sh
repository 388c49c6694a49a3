#!/usr/bin/env bash
# Builds aludel's JavaScript plugin: target/plugins/js.wasm, one QuickJS
# component (componentize-qjs) shared by every `plugin = "js"` revision.
# Idempotent: npm installs the pinned tool once into
# target/js-plugin-node_modules, and the component is rebuilt only when its
# inputs changed. Needs Node >= 18 and npm; the machine that runs the
# migrations needs neither.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tools="$target/js-plugin-node_modules"
stage="$target/js-plugin-build"
out="$target/plugins/js.wasm"

# The pinned tool, installed once (npm ci would need a lockfile per platform:
# the native binding is an optional dependency chosen by platform).
if [ ! -x "$tools/node_modules/.bin/componentize-qjs" ] \
  || ! cmp -s "$here/package.json" "$tools/package.json"; then
  mkdir -p "$tools"
  cp "$here/package.json" "$tools/package.json"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Stage the inputs: the plugin, the SDK, the plugin world with its WASI
# dependencies and the current aludel:migration package.
rm -rf "$stage.new"
mkdir -p "$stage.new/wit/deps/migration"
cp "$here/src/plugin.js" "$stage.new/plugin.js"
cp "$root/sdk/js/aludel.js" "$stage.new/aludel.js"
cp -r "$here/wit/." "$stage.new/wit/"
cp "$root/wit/migration.wit" "$stage.new/wit/deps/migration/migration.wit"
cp "$here/package.json" "$stage.new/package.json"

stamp="$(cd "$stage.new" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ -f "$out" ] && [ -f "$stage/.stamp" ] && [ "$(cat "$stage/.stamp")" = "$stamp" ]; then
  rm -rf "$stage.new"
  echo "$out is up to date"
  exit 0
fi
rm -rf "$stage"
mv "$stage.new" "$stage"

mkdir -p "$(dirname "$out")"
# --sync: the host does not enable the component-model async ABI.
(cd "$stage" && "$tools/node_modules/.bin/componentize-qjs" --sync \
  --wit wit --world aludel:js-plugin/plugin --js plugin.js --module-root . \
  -o "$out.tmp" >/dev/null)
mv "$out.tmp" "$out"
echo "$stamp" >"$stage/.stamp"
echo "built $out ($(wc -c <"$out") bytes)"
