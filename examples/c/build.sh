#!/usr/bin/env bash
# Builds the C revisions of an aludel project: every versions/*/revision.c
# becomes a revision.wasm component beside it. The project is this example
# unless a directory is given: build.sh [PROJECT_DIR].
#
#   wit-bindgen c   C bindings for the world aludel:migration/migration (../../wit)
#   clang-19        --target=wasm32-wasi against Debian's wasi-libc, linked by
#                   lld (wasm-ld-19) as a reactor: no main, exports called many times
#   jco new         the WASI preview-1 core module to a component, through the
#                   preview-1 adapter wasi_snapshot_preview1.reactor.wasm that
#                   ships in the npm package @bytecodealliance/jco
#
# Idempotent: the pinned tools are installed once under
# ${CARGO_TARGET_DIR:-target}/c-tools, and each component is kept there by
# the hash of its inputs, so a second run compiles nothing. The Debian
# packages are installed when run as root and named otherwise. The machine
# that runs the migrations needs none of this: commit revision.wasm.
set -euo pipefail

# Pins. wit-bindgen 0.63 is the generator the Rust guests use (Cargo.lock);
# jco 1.35's adapter and `jco new` (wit-component 0.259 compiled to wasm).
WIT_BINDGEN_VERSION=0.63.0
JCO_VERSION=1.35.0
CLANG=clang-19
PACKAGES="clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
project="$(cd "${1:-$here}" && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tools="$target/c-tools"
mkdir -p "$tools/cache"
# One build at a time: tests and scripts may call this concurrently.
exec 9>"$tools/.lock"
flock 9

# Debian's compiler, linker, wasi-libc (headers in /usr/include/wasm32-wasi,
# libraries in /usr/lib/wasm32-wasi, found by clang-19 without --sysroot) and
# compiler-rt builtins, which clang links into every wasm32-wasi program.
have_packages() {
  command -v "$CLANG" >/dev/null && command -v wasm-ld-19 >/dev/null \
    && [ -f /usr/lib/wasm32-wasi/libc.a ] \
    && [ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ]
}
if ! have_packages; then
  if [ "$(id -u)" != 0 ]; then
    echo "build.sh: needs the Debian packages $PACKAGES: apt-get install -y --no-install-recommends $PACKAGES" >&2
    exit 1
  fi
  echo "build.sh: installing $PACKAGES" >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES >/dev/null \
    || { apt-get update >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES >/dev/null; }
fi

# wit-bindgen with only its C generator, built from crates.io with its own
# lockfile (about 5 minutes on 2 cores, once). Its build directory is removed:
# 440 MB for one binary. The environment of a calling `cargo test` must not
# leak into it.
wit_bindgen="$tools/cargo/bin/wit-bindgen"
if [ "$("$wit_bindgen" --version 2>/dev/null)" != "wit-bindgen-cli $WIT_BINDGEN_VERSION" ]; then
  echo "build.sh: installing wit-bindgen-cli $WIT_BINDGEN_VERSION into $tools/cargo" >&2
  (cd "$tools" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET -u CARGO_TARGET_DIR \
    cargo install --quiet --locked --force "wit-bindgen-cli@$WIT_BINDGEN_VERSION" \
    --no-default-features --features c --root "$tools/cargo" --target-dir "$tools/cargo-build")
  rm -rf "$tools/cargo-build"
fi

# jco, pinned, for its preview-1 adapter and `jco new`.
jco_dir="$tools/jco"
jco="$jco_dir/node_modules/.bin/jco"
adapter="$jco_dir/node_modules/@bytecodealliance/jco/lib/wasi_snapshot_preview1.reactor.wasm"
if [ "$("$jco" --version 2>/dev/null)" != "$JCO_VERSION" ] || [ ! -f "$adapter" ]; then
  echo "build.sh: installing @bytecodealliance/jco $JCO_VERSION into $jco_dir" >&2
  rm -rf "$jco_dir"
  mkdir -p "$jco_dir"
  printf '{"private": true, "dependencies": {"@bytecodealliance/jco": "%s"}}\n' "$JCO_VERSION" \
    >"$jco_dir/package.json"
  (cd "$jco_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The bindings depend only on the WIT package: generate them once per build.
stage="$(mktemp -d "$tools/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
out="$("$wit_bindgen" c "$root/wit" --world aludel:migration/migration --out-dir "$stage/gen" 2>&1)" \
  || { echo "$out" >&2; exit 1; }

toolchain="$("$CLANG" --version | head -n1); wit-bindgen $WIT_BINDGEN_VERSION; jco $JCO_VERSION"
built=0
for source in "$project"/versions/*/revision.c; do
  [ -f "$source" ] || continue
  dir="$(dirname "$source")"
  key="$( (echo "$toolchain"; cat "${BASH_SOURCE[0]}" "$root/wit/migration.wit" "$source") | sha256sum | cut -d' ' -f1)"
  cached="$tools/cache/$key.wasm"
  if [ ! -f "$cached" ]; then
    # -O2, warnings as errors; debug info dropped (wasi-libc's would be
    # 110 KB), the name section kept for readable traps.
    "$CLANG" --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Werror \
      -Wl,--strip-debug -I "$stage/gen" -o "$stage/core.wasm" \
      "$source" "$stage/gen/migration.c" "$stage/gen/migration_component_type.o"
    "$jco" new "$stage/core.wasm" --adapt "wasi_snapshot_preview1=$adapter" \
      -o "$stage/component.wasm" >/dev/null
    mv "$stage/component.wasm" "$cached"
  fi
  if ! cmp -s "$cached" "$dir/revision.wasm"; then
    cp "$cached" "$dir/revision.wasm.tmp"
    mv "$dir/revision.wasm.tmp" "$dir/revision.wasm"
    echo "built ${dir#"$project/"}/revision.wasm ($(wc -c <"$dir/revision.wasm") bytes)"
  else
    echo "${dir#"$project/"}/revision.wasm is up to date"
  fi
  built=$((built + 1))
done
[ "$built" -gt 0 ] || { echo "build.sh: no versions/*/revision.c in $project" >&2; exit 1; }
