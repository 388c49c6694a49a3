#!/usr/bin/env bash
# Builds the `python` interpreter plugin: target/plugins/python.wasm.
#
#   plugins/python/build.sh            (from anywhere; idempotent)
#
# Needs python3 (3.10+) with venv and pip, and network or a wheel cache for
# componentize-py the first time. The venv lives in target/python-plugin-venv;
# the component is rebuilt only when its inputs changed.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/python-plugin-venv"
out="$target/plugins/python.wasm"
stamp="$target/plugins/python.wasm.inputs"

if [[ ! -x "$venv/bin/componentize-py" ]] ||
    [[ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

inputs="$(cat "$root"/wit/*.wit "$here/app.py" "$root/sdk/python/aludel.py" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$inputs" ]]; then
    exit 0
fi

mkdir -p "$target/plugins"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$venv/bin/componentize-py" \
    --wit-path "$root/wit" \
    --world aludel:migration/migration@0.2.0 \
    componentize \
    --python-path "$root/sdk/python" \
    --python-path "$here" \
    app \
    -o "$tmp"
mv "$tmp" "$out"
echo "$inputs" >"$stamp"
