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
# the repository, and made a git repository that cargo-deny clones from as it would from
# GitHub. The output names the database used and its date: a "no advisories" result is
# only as current as that date. TLSCAT_ADVISORY_OFFLINE=1 skips the attempt to fetch.
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
        mv "$repo.tmp/advisory-db" "$repo"
        rmdir "$repo.tmp"
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

# A copy of deny.toml whose advisory database is `url`, cloned into $work/dbs.
config_for() {
    local url=$1 config=$work/deny-$2.toml
    sed -e '/^\[advisories\]/,$d' deny.toml >"$config"
    cat >>"$config" <<EOF
[advisories]
db-path = "$work/dbs-$2"
db-urls = ["$url"]
EOF
    # The [advisories] entries of deny.toml (ignore list, …) follow.
    sed -n '/^\[advisories\]/,$p' deny.toml | sed '1d' | grep -v '^db-' >>"$config" || true
    echo "$config"
}

if online; then
    echo "== advisories: the current RustSec database (github.com/rustsec/advisory-db)"
    cargo deny --locked check advisories
    url=https://github.com/rustsec/advisory-db
    name=current
else
    repo=$(prepare_snapshot)
    date=$(git -C "$repo" log -1 --format=%cs)
    echo "== advisories: GitHub is out of reach; using the RustSec snapshot of $date"
    echo "   (an offline check is only as current as its database: $date)"
    url="file://$repo"
    name=snapshot
    rm -rf "$work/dbs-$name"
    cargo deny --locked --config "$(config_for "$url" "$name")" check advisories
fi

# Self-check: the same check must fail on a lockfile that pins a crate with a known
# advisory (smallvec 0.6.9: RUSTSEC-2019-0009, RUSTSEC-2019-0012, RUSTSEC-2018-0018).
echo "== self-check: the advisory check fails on a known-vulnerable lockfile"
probe=$work/vulnerable
rm -rf "$probe"
mkdir -p "$probe/src"
cat >"$probe/Cargo.toml" <<'EOF'
[package]
name = "advisory-probe"
version = "0.0.0"
edition = "2021"
publish = false
license = "MIT"

[dependencies]
smallvec = "=0.6.9"

[workspace]
EOF
echo 'fn main() {}' >"$probe/src/main.rs"
(cd "$probe" && cargo generate-lockfile --quiet)
config=$(config_for "$url" "$name")
if output=$(cargo deny --manifest-path "$probe/Cargo.toml" --config "$config" \
    check advisories 2>&1); then
    echo "$output" >&2
    die "the advisory check passed a lockfile with smallvec 0.6.9: it cannot be trusted"
fi
grep -q "RUSTSEC-2019-0009" <<<"$output" ||
    die "the advisory check failed on smallvec 0.6.9, but not for RUSTSEC-2019-0009: $output"
echo "   ok: it reports RUSTSEC-2019-0009 for smallvec 0.6.9"
