#!/usr/bin/env bash
# Builds tlscat against several OpenSSL versions and runs the whole test suite with each.
#
# The OpenSSL sources come from the openssl-src crate in the Rust crate registry (no other
# download). Each version is built once into target/openssl-VERSION (cached: a rerun skips
# it), tlscat is built against it with OPENSSL_DIR (never the `vendored` feature) into
# target/matrix-VERSION, and `cargo test` runs with it.
#
# The libraries are static (OPENSSL_STATIC=1): the crate's trimmed sources cannot make
# shared ones (util/mkdef.pl is left out), and a static link keeps the peers the tests run
# (openssl s_client, Python, curl) on the system's library, which LD_LIBRARY_PATH would
# swap under them too (3.x and 4.0 share the soname libssl.so.3). `tlscat --version` shows
# which library each build runs with.
#
# Usage: scripts/openssl-matrix.sh [VERSION...]   (default: system 3.5 4.0 1.1.1)
#   VERSION: system (the OpenSSL pkg-config finds), 1.1.1, 3.5 or 4.0
# Prints a table (version, builds, tests passed, time of each step); exits 1 if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)

# version -> openssl-src crate version that carries it
declare -A crate=(
    [1.1.1]=111.28.2+1.1.1w
    [3.5]=300.5.5+3.5.5
    [4.0]=400.0.2+4.0.3
)

die() {
    echo "openssl-matrix.sh: $*" >&2
    exit 2
}

if [ $# -eq 0 ]; then
    set -- system 3.5 4.0 1.1.1
fi
for version in "$@"; do
    [ "$version" = system ] || [ -n "${crate[$version]:-}" ] ||
        die "unknown version '$version': use system, ${!crate[*]}"
done
command -v perl >/dev/null || die "perl not found: OpenSSL's Configure needs it (apt-get install perl)"
command -v make >/dev/null || die "make not found: apt-get install make"

now() { date +%s; }
log_dir=$root/target/openssl-matrix-logs
mkdir -p "$log_dir"

# Prints the openssl/ directory of the openssl-src crate VERSION, fetching it if needed.
source_dir() {
    local version=$1 fetch=$root/target/openssl-src-fetch/$1
    mkdir -p "$fetch/src"
    cat >"$fetch/Cargo.toml" <<EOF
[package]
name = "fetch-openssl-src"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
openssl-src = "=${crate[$version]}"

[workspace]
EOF
    : >"$fetch/src/lib.rs"
    cargo metadata --quiet --format-version 1 --manifest-path "$fetch/Cargo.toml" |
        python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "openssl-src")
print(os.path.join(os.path.dirname(pkg["manifest_path"]), "openssl"))'
}

# Builds OpenSSL VERSION into target/openssl-VERSION unless that is already done.
build_openssl() {
    local version=$1 prefix=$root/target/openssl-$1
    if [ -f "$prefix/.built-${crate[$version]}" ]; then
        echo "cached"
        return
    fi
    local src build=$root/target/openssl-build-$version
    src=$(source_dir "$version")
    rm -rf "$build" "$prefix"
    cp -r "$src" "$build"
    local options=(no-shared no-tests no-module no-legacy no-comp no-zlib)
    [ "$version" = 1.1.1 ] && options=(no-shared no-dso no-unit-test no-comp no-zlib)
    (
        cd "$build"
        ./config --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib "${options[@]}"
        make -j"$jobs" build_libs
        make install_dev
    ) >"$log_dir/openssl-$version.log" 2>&1 || return 1
    rm -rf "$build"
    touch "$prefix/.built-${crate[$version]}"
    echo "built"
}

results=()
failed=0
for version in "$@"; do
    echo "== OpenSSL $version"
    openssl_status=system
    openssl_time=0
    env_vars=()
    target=$root/target/matrix-$version
    if [ "$version" != system ]; then
        start=$(now)
        if ! openssl_status=$(build_openssl "$version"); then
            echo "   OpenSSL build failed: see $log_dir/openssl-$version.log"
            results+=("$version|FAILED ($log_dir/openssl-$version.log)|-|-|$(($(now) - start))s|-|-")
            failed=1
            continue
        fi
        openssl_time=$(($(now) - start))
        prefix=$root/target/openssl-$version
        env_vars=(OPENSSL_DIR="$prefix" OPENSSL_STATIC=1 OPENSSL_NO_VENDOR=1)
    fi

    # Code behind a cfg this version does not set must not rot unnoticed.
    env_vars+=(RUSTFLAGS="-D warnings")
    start=$(now)
    if ! env "${env_vars[@]}" CARGO_TARGET_DIR="$target" \
        cargo test --locked --no-run >"$log_dir/build-$version.log" 2>&1; then
        echo "   tlscat build failed: see $log_dir/build-$version.log"
        results+=("$version|$openssl_status|FAILED|-|${openssl_time}s|$(($(now) - start))s|-")
        failed=1
        continue
    fi
    build_time=$(($(now) - start))
    linked=$("$target/debug/tlscat" --version)
    echo "   $linked"

    start=$(now)
    if env "${env_vars[@]}" CI="${CI:-}" CARGO_TARGET_DIR="$target" \
        cargo test --locked --no-fail-fast >"$log_dir/test-$version.log" 2>&1; then
        verdict=ok
    else
        verdict=FAILED
        failed=1
    fi
    test_time=$(($(now) - start))
    passed=$(grep -o '[0-9]* passed' "$log_dir/test-$version.log" | awk '{s+=$1} END {print s+0}')
    failures=$(grep -o '[0-9]* failed' "$log_dir/test-$version.log" | awk '{s+=$1} END {print s+0}')
    running=$(echo "$linked" | sed -n 's/.*running \(.*\))$/\1/p')
    results+=("$version|$openssl_status|ok ($running)|$verdict: $passed passed, $failures failed|${openssl_time}s|${build_time}s|${test_time}s")
    echo "   tests: $verdict, $passed passed, $failures failed (log: $log_dir/test-$version.log)"
done

echo
echo "| OpenSSL | OpenSSL build | tlscat build (linked) | tests | OpenSSL time | build time | test time |"
echo "|---|---|---|---|---|---|---|"
for row in "${results[@]}"; do
    echo "| ${row//|/ | } |"
done
exit "$failed"
