#!/usr/bin/env bash
# Proves what a distribution build needs: the release binary builds from vendored sources
# with --locked --offline and no network at all, and two builds of the same tree give the
# same bytes.
#
#   1. `cargo vendor` copies every dependency into target/offline/vendor: the only step
#      that reads the crate registry.
#   2. Two release builds from those sources (--locked --offline, through a config that
#      replaces crates.io with the vendor directory), each inside a network namespace with
#      no network (`unshare --net`, when the kernel lets us), in the same target directory,
#      emptied in between.
#   3. The two binaries' SHA-256 must match.
#
# Usage: scripts/offline-build.sh        Exit: 0 reproducible, 1 not, 2 could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$PWD/target/offline

die() {
    echo "offline-build.sh: $*" >&2
    exit 2
}

rm -rf "$work"
mkdir -p "$work"
echo "== vendoring dependencies into $work/vendor"
cargo vendor --locked --versioned-dirs --quiet "$work/vendor" >"$work/vendor-config.toml" ||
    die "cargo vendor failed (it needs the crate registry once)"

isolate=()
if unshare --net true 2>/dev/null; then
    isolate=(unshare --net)
    echo "== building without network (unshare --net)"
else
    echo "== unshare --net is not permitted here: building offline with the network present"
fi

sums=()
for build in 1 2; do
    rm -rf "$work/target"
    start=$(date +%s)
    "${isolate[@]}" env CARGO_TARGET_DIR="$work/target" CARGO_NET_OFFLINE=true \
        cargo build --release --locked --offline --quiet \
        --config "$work/vendor-config.toml" ||
        die "offline build $build failed"
    sum=$(sha256sum "$work/target/release/tlscat" | cut -d' ' -f1)
    sums+=("$sum")
    echo "   build $build: $(($(date +%s) - start))s, sha256 $sum"
done

if [ "${sums[0]}" != "${sums[1]}" ]; then
    echo "offline-build.sh: the two builds differ: not reproducible" >&2
    exit 1
fi
echo "reproducible: both builds are sha256 ${sums[0]}"
