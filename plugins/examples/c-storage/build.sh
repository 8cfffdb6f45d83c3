#!/usr/bin/env bash
# Builds memstore.wasm, a wirt storage driver written in C, as a WebAssembly
# component: build.sh [OUT_DIR] (default: ./build).
#
# Needs
#   - clang with the wasm32 target and a WASI libc: Debian's clang-14,
#     lld-14, wasi-libc and libclang-rt-14-dev-wasm32 (what scripts/setup.sh
#     installs), or any wasi-sdk (set WASI_SYSROOT and CC);
#   - wasm-component-ld, the linker that turns the module into a component.
#     It ships with Rust's wasm32-wasip2 target (`rustup target add
#     wasm32-wasip2`), or `cargo install wasm-component-ld`.
# Optional
#   - wit-bindgen 0.61 (`cargo install wit-bindgen-cli --version 0.61.1
#     --no-default-features --features c`): when present, gen/ is made afresh
#     from the contract in ../../../wit; otherwise the committed gen/ is used,
#     after checking it was made from the same contract (gen/wit.sha256).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
wit=$(cd "$here/../../../wit" && pwd)
mkdir -p "$out"

die() { echo "build.sh: $*" >&2; exit 1; }

# 1. Bindings for the `storage-driver` world.
wit_sum=$(cd "$wit" && cat $(ls *.wit | sort) | sha256sum | cut -d' ' -f1)
if command -v wit-bindgen >/dev/null 2>&1 && wit-bindgen --version | grep -q ' 0\.61\.'; then
  wit-bindgen c --world storage-driver --out-dir "$here/gen" "$wit" >/dev/null 2>&1 \
    || die "wit-bindgen c failed"
  echo "$wit_sum" > "$here/gen/wit.sha256"
elif [ "$(cat "$here/gen/wit.sha256" 2>/dev/null)" != "$wit_sum" ]; then
  die "gen/ was made from another version of wit/; install wit-bindgen 0.61 to remake it"
fi

# 2. A C compiler for wasm32-wasi.
cc=${CC:-}
if [ -z "$cc" ]; then
  for c in clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
  done
fi
[ -n "$cc" ] || die "no clang found (Debian: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)"
cflags=(--target=wasm32-wasi -O2 -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE)
if [ -n "${WASI_SYSROOT:-}" ]; then
  cflags+=(--sysroot="$WASI_SYSROOT")
  libdir=$WASI_SYSROOT/lib/wasm32-wasi
else
  libdir=/usr/lib/wasm32-wasi
fi
[ -f "$libdir/libc.a" ] || die "no WASI libc in $libdir (Debian: apt-get install wasi-libc; or set WASI_SYSROOT)"
builtins=$("$cc" --target=wasm32-wasi -print-libgcc-file-name)
[ -f "$builtins" ] || die "no compiler-rt builtins for wasm32 at $builtins (Debian: apt-get install libclang-rt-14-dev-wasm32)"

"$cc" "${cflags[@]}" -c "$here/memstore.c" -o "$out/memstore.o"
# The generated glue is not ours to warn about.
"$cc" "${cflags[@]/-Werror/}" -Wno-unused-parameter -c "$here/gen/storage_driver.c" -o "$out/storage_driver.o"

# 3. Link into a component.
component_ld=${WASM_COMPONENT_LD:-}
if [ -z "$component_ld" ]; then
  component_ld=$(command -v wasm-component-ld || true)
fi
if [ -z "$component_ld" ] && command -v rustc >/dev/null 2>&1; then
  candidate="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld"
  [ -x "$candidate" ] && component_ld=$candidate
fi
[ -n "$component_ld" ] || die "no wasm-component-ld (rustup target add wasm32-wasip2, or cargo install wasm-component-ld)"
wasm_ld=${WASM_LD:-$(command -v wasm-ld || command -v wasm-ld-19 || command -v wasm-ld-18 || command -v wasm-ld-17 || command -v wasm-ld-16 || command -v wasm-ld-15 || command -v wasm-ld-14 || true)}
[ -n "$wasm_ld" ] || die "no wasm-ld (Debian: apt-get install lld-14)"

"$component_ld" --wasm-ld-path "$wasm_ld" --no-entry \
  -o "$out/memstore.wasm" \
  "$out/memstore.o" "$out/storage_driver.o" "$here/gen/storage_driver_component_type.o" \
  -L"$libdir" -lc "$builtins"
echo "$out/memstore.wasm"
