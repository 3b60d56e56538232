#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (installed from the crate registry when missing):
#
#   scripts/audit.sh               every dependency's licence against deny.toml
#   scripts/audit.sh --advisories  also the RustSec advisories against Cargo.lock: from
#                                  GitHub when it can be reached, else offline from the
#                                  dated snapshot of the advisory database (see below);
#                                  then a self-check that the advisory check can fail
#
# The snapshot is the tarball in ../shared/advisory-db/ next to the checkout (or the file
# named by TLSCAT_ADVISORY_SNAPSHOT); it is unpacked under target/advisory-db/, never in
# the repository, made a one-commit git repository (dated as the snapshot) and put where
# cargo-deny keeps its database, which it then reads offline. The output names the
# database used and its date: a "no advisories" result is only as current as that date.
# TLSCAT_ADVISORY_OFFLINE=1 skips the attempt to fetch.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

die() {
    echo "audit.sh: $*" >&2
    exit 1
}

if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "== installing cargo-deny from the crate registry"
    cargo install --locked --quiet cargo-deny
fi

echo "== licences (deny.toml)"
cargo deny --locked check licenses

[ "${1:-}" = --advisories ] || exit 0

work=$root/target/advisory-db
mkdir -p "$work"

# The upstream database, when GitHub answers within a few seconds.
online() {
    [ "${TLSCAT_ADVISORY_OFFLINE:-}" != 1 ] &&
        timeout 10 git ls-remote --heads https://github.com/rustsec/advisory-db >/dev/null 2>&1
}

# Unpacks the snapshot into $work/snapshot as a one-commit git repository (once per
# tarball), and prints the date of its commit.
prepare_snapshot() {
    local tarball=${TLSCAT_ADVISORY_SNAPSHOT:-$root/../shared/advisory-db/advisory-db.tar.gz}
    [ -f "$tarball" ] || die "no network to fetch the advisory database, and no snapshot at \
$tarball: set TLSCAT_ADVISORY_SNAPSHOT=FILE to a tarball of github.com/rustsec/advisory-db"
    local readme
    readme=$(dirname "$tarball")/README.md
    local stamp
    stamp=$(sha256sum "$tarball" | cut -c1-16)
    local repo=$work/snapshot-$stamp
    if [ ! -d "$repo/.git" ]; then
        rm -rf "$work"/snapshot-*
        mkdir -p "$repo.tmp"
        tar -xzf "$tarball" -C "$repo.tmp"
        # The database is the tarball's one top folder (advisory-db/, advisory-db-main/, …).
        local top
        top=$(find "$repo.tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
        [ -d "$top/crates" ] || die "$tarball holds no advisory database (no crates/ folder)"
        mv "$top" "$repo"
        rm -rf "$repo.tmp"
        # The date in the snapshot's README (its upstream commit), else the newest file.
        local date
        date=$(grep -oE '\(20[0-9]{2}-[0-9]{2}-[0-9]{2}\)' "$readme" 2>/dev/null | head -1 | tr -d '()')
        [ -n "$date" ] || date=$(find "$repo" -type f -printf '%TY-%Tm-%Td\n' | sort | tail -1)
        (
            cd "$repo"
            git init -q -b main
            git add -A
            GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z" \
                git -c user.name=snapshot -c user.email=snapshot@localhost \
                commit -q -m "RustSec advisory database snapshot of $date"
        )
    fi
    echo "$repo"
}

# A copy of deny.toml whose advisory databases live in $work/dbs-$1.
config_for() {
    local config=$work/deny-$1.toml
    sed -e '/^\[advisories\]/,$d' deny.toml >"$config"
    echo '[advisories]' >>"$config"
    echo "db-path = \"$work/dbs-$1\"" >>"$config"
    # The [advisories] entries of deny.toml (its ignore list, …) follow.
    sed -n '/^\[advisories\]/,$p' deny.toml | sed '1d' | grep -v '^db-' >>"$config" || true
    echo "$config"
}

# Runs the offline advisory check with $config on the manifest given (if any). cargo-deny
# looks for its database in a directory named after the upstream URL: the first run says
# where, and the snapshot is put there.
offline_check() {
    local config=$1
    shift
    local output
    if output=$(cargo deny --offline "$@" --config "$config" check advisories 2>&1); then
        echo "$output"
        return 0
    fi
    local missing
    missing=$(grep -oE "cannot change to '[^']+'" <<<"$output" | head -1 | sed "s/cannot change to '//; s/'$//")
    if [ -n "$missing" ] && [ ! -e "$missing" ]; then
        mkdir -p "$(dirname "$missing")"
        git clone -q "$snapshot" "$missing"
        cargo deny --offline "$@" --config "$config" check advisories
    else
        echo "$output"
        return 1
    fi
}

probe=$work/vulnerable
# A throw-away crate whose lockfile pins smallvec 1.6.0 (RUSTSEC-2021-0003:
# a buffer overflow in insert_many).
make_probe() {
    rm -rf "$probe"
    mkdir -p "$probe/src"
    cat >"$probe/Cargo.toml" <<'EOF_TOML'
[package]
name = "advisory-probe"
version = "0.0.0"
edition = "2021"
publish = false
license = "MIT"

[dependencies]
smallvec = "=1.6.0"

[workspace]
EOF_TOML
    echo 'fn main() {}' >"$probe/src/main.rs"
    (cd "$probe" && cargo generate-lockfile --quiet && cargo fetch --quiet) ||
        die "the self-check needs smallvec 1.6.0 from the crate registry, which is out of reach"
}

if online; then
    echo "== advisories: the current RustSec database (github.com/rustsec/advisory-db)"
    config=$(config_for current)
    cargo deny --locked --config "$config" check advisories
    echo "== self-check: the advisory check fails on a known-vulnerable lockfile"
    make_probe
    if output=$(cargo deny --manifest-path "$probe/Cargo.toml" --config "$config" \
        check advisories 2>&1); then
        echo "$output" >&2
        die "the advisory check passed a lockfile with smallvec 1.6.0: it cannot be trusted"
    fi
else
    snapshot=$(prepare_snapshot)
    date=$(git -C "$snapshot" log -1 --format=%cs)
    echo "== advisories: GitHub is out of reach; using the RustSec snapshot of $date"
    echo "   (an offline check is only as current as its database: $date)"
    config=$(config_for snapshot)
    rm -rf "$work/dbs-snapshot"
    offline_check "$config" --locked
    echo "== self-check: the advisory check fails on a known-vulnerable lockfile"
    make_probe
    if output=$(offline_check "$config" --manifest-path "$probe/Cargo.toml" 2>&1); then
        echo "$output" >&2
        die "the advisory check passed a lockfile with smallvec 1.6.0: it cannot be trusted"
    fi
fi
grep -q "RUSTSEC-2021-0003" <<<"$output" ||
    die "the advisory check failed on smallvec 1.6.0, but not for RUSTSEC-2021-0003: $output"
echo "   ok: it reports RUSTSEC-2021-0003 for smallvec 1.6.0"
