#!/bin/sh
# Builds the Verdict wasm runtime (src/wasm/runtime.wasm) from runtime/src/*.c and records the
# hash of the sources next to it. Needs clang (wasm32 target) and wasm-ld; CI does not.
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-$(command -v clang-14 || command -v clang)}"
WASMLD="${WASMLD:-$(command -v wasm-ld-14 || command -v wasm-ld)}"
OUT="${OUT:-../src/wasm}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in src/*.c; do
  # Link-time optimisation lets clang inline the small value helpers across files (a wasm call
  # costs far more than the helper). stubs.c stays a plain object: the code generator replaces
  # those bodies, so the optimiser must not see (and fold) them.
  LTO=-flto
  [ "$(basename "$f")" = stubs.c ] && LTO=
  "$CLANG" --target=wasm32 -O2 $LTO -nostdlib -ffreestanding -fno-builtin -Wall -Wextra \
    -Wno-unused-parameter -c "$f" -o "$TMP/$(basename "$f" .c).o"
done
"$WASMLD" --no-entry --import-memory --allow-undefined --export-all --export=__heap_base \
  -z stack-size=65536 -o "$OUT/runtime.wasm" "$TMP"/*.o
node ./hash.mjs > "$OUT/runtime.hash"
echo "built $OUT/runtime.wasm ($(wc -c < "$OUT/runtime.wasm") bytes)"
