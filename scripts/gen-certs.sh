#!/usr/bin/env bash
# Makes a local CA plus a server and a client certificate signed by it, for tlscat.
# Needs only bash and the openssl command. Run with --help for the options.
set -euo pipefail

prog=gen-certs.sh

usage() {
    cat <<'EOF'
Usage: scripts/gen-certs.sh [--out DIR] [--days N] [--san NAME]... [--rsa [BITS]]
                            [--client-cn NAME] [--client-uri URI]... [--force]

Makes, in DIR (default: certs/ under the current directory):
  ca.crt, ca.key          a local certificate authority, named "tlscat local CA" and a
                          random part, so that two sets are never confused
  server.crt, server.key  signed by it; subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1
                          (plus every --san), extendedKeyUsage serverAuth
  client.crt, client.key  signed by it; CN=tlscat client (or --client-cn), extendedKeyUsage
                          clientAuth (for mutual TLS), the --client-uri names

Options:
  --out DIR     where to write (created if missing)
  --days N      validity of the server and client certificates (default 90);
                the CA lives 10 years, or N days if that is longer
  --san NAME    add a DNS name or IP address to the server certificate; repeatable
  --client-cn NAME
                the client certificate's common name (default: tlscat client)
  --client-uri URI
                add a URI to the client certificate (a SPIFFE ID such as
                spiffe://example.org/web, for tlscat --allow-uri); repeatable
  --rsa [BITS]  RSA keys (default 2048 bits) instead of ECDSA P-256
  --force       replace an existing set
  -h, --help    this text

Existing files are never overwritten without --force: a complete, valid set is kept
(exit 0); an incomplete or invalid one is reported (exit 1). Keys are written with mode
0600, every file through a temporary file and a rename, and the result is checked with
`openssl verify`.

Exit codes: 0 done (or a valid set kept), 1 failure, 2 usage error.
EOF
}

die() {
    echo "$prog: $1" >&2
    exit "${2:-1}"
}

command -v openssl >/dev/null 2>&1 ||
    die "openssl not found: install it (Debian/Ubuntu: apt-get install openssl; Fedora: dnf install openssl)"

out=certs
days=90
rsa_bits=
force=
sans=()
client_cn="tlscat client"
client_uris=()
while [ $# -gt 0 ]; do
    case $1 in
    --out)
        [ $# -ge 2 ] || die "--out needs a directory" 2
        out=$2
        shift 2
        ;;
    --days)
        [ $# -ge 2 ] || die "--days needs a number of days" 2
        [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] || die "--days $2: expected a whole number of days, at least 1" 2
        days=$2
        shift 2
        ;;
    --san)
        [ $# -ge 2 ] || die "--san needs a DNS name or an IP address" 2
        [[ $2 =~ ^[A-Za-z0-9*._:-]+$ ]] ||
            die "--san $2: expected a DNS name (letters, digits, '-', '.', '*') or an IP address" 2
        sans+=("$2")
        shift 2
        ;;
    --client-cn)
        [ $# -ge 2 ] || die "--client-cn needs a name" 2
        [[ $2 =~ ^[A-Za-z0-9\ ._@-]+$ ]] ||
            die "--client-cn $2: expected letters, digits, spaces and . _ @ -" 2
        client_cn=$2
        shift 2
        ;;
    --client-uri)
        [ $# -ge 2 ] || die "--client-uri needs a URI" 2
        [[ $2 =~ ^[a-z][a-z0-9+.-]*://[^[:space:],]+$ ]] ||
            die "--client-uri $2: expected a URI such as spiffe://example.org/web" 2
        client_uris+=("$2")
        shift 2
        ;;
    --rsa)
        rsa_bits=2048
        if [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]]; then
            [ "$2" -ge 2048 ] && [ "$2" -le 16384 ] ||
                die "--rsa $2: use 2048 to 16384 bits (smaller keys are refused by OpenSSL's default security level)" 2
            rsa_bits=$2
            shift
        fi
        shift
        ;;
    --force)
        force=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        die "unknown option '$1': see --help" 2
        ;;
    esac
done

files=(ca.crt ca.key server.crt server.key client.crt client.key)

# Prints why DIR does not hold a complete, valid set, or nothing if it does.
set_problem() {
    local dir=$1 name
    for name in "${files[@]}"; do
        [ -f "$dir/$name" ] || {
            echo "$name is missing"
            return
        }
    done
    openssl verify -CAfile "$dir/ca.crt" -purpose sslserver "$dir/server.crt" >/dev/null 2>&1 ||
        {
            echo "server.crt does not verify against ca.crt (expired, or from another CA)"
            return
        }
    openssl verify -CAfile "$dir/ca.crt" -purpose sslclient "$dir/client.crt" >/dev/null 2>&1 ||
        {
            echo "client.crt does not verify against ca.crt (expired, or from another CA)"
            return
        }
    for name in ca server client; do
        [ "$(openssl pkey -in "$dir/$name.key" -pubout 2>/dev/null)" = \
            "$(openssl x509 -in "$dir/$name.crt" -noout -pubkey 2>/dev/null)" ] ||
            {
                echo "$name.key does not match $name.crt"
                return
            }
    done
}

mkdir -p -- "$out" 2>/dev/null || die "cannot create directory $out: choose another --out DIR"
[ -d "$out" ] && [ -w "$out" ] || die "$out is not writable: choose another --out DIR or fix its permissions"

existing=()
for name in "${files[@]}"; do
    [ -e "$out/$name" ] && existing+=("$name")
done
if [ ${#existing[@]} -gt 0 ] && [ -z "$force" ]; then
    problem=$(set_problem "$out")
    if [ -z "$problem" ]; then
        until=$(openssl x509 -in "$out/server.crt" -noout -enddate | sed 's/^notAfter=//')
        echo "$prog: $out already holds a valid set (server certificate valid until $until); kept it."
        if [ ${#sans[@]} -gt 0 ] || [ -n "$rsa_bits" ] || [ "$days" != 90 ]; then
            echo "$prog: the options you gave were not applied: add --force to regenerate with them."
        fi
        exit 0
    fi
    die "refusing to overwrite ${existing[*]} in $out: the set is not usable ($problem); add --force to regenerate it"
fi

tmp=$(mktemp -d "$out/.gen-certs.XXXXXX" 2>/dev/null) ||
    die "cannot write in $out: choose another --out DIR or fix its permissions"
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM

# Server SANs: the seed's names plus every --san, each as DNS: or IP:.
san_list="DNS:localhost, IP:127.0.0.1, IP:::1"
for name in "${sans[@]}"; do
    if [[ $name =~ ^[0-9]+(\.[0-9]+){3}$ ]] || [[ $name == *:* ]]; then
        san_list+=", IP:$name"
    else
        san_list+=", DNS:$name"
    fi
done

if [ -n "$rsa_bits" ]; then
    kind="RSA-$rsa_bits"
    key_usage="digitalSignature, keyEncipherment"
    keygen=(-algorithm RSA -pkeyopt "rsa_keygen_bits:$rsa_bits")
else
    kind="ECDSA P-256"
    key_usage="digitalSignature"
    keygen=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
fi
ca_days=$((days > 3650 ? days : 3650))

cat >"$tmp/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = tlscat
[ ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $key_usage
extendedKeyUsage = serverAuth
subjectAltName = $san_list
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $key_usage
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
if [ ${#client_uris[@]} -gt 0 ]; then
    uri_list=$(printf 'URI:%s, ' "${client_uris[@]}")
    echo "subjectAltName = ${uri_list%, }" >>"$tmp/openssl.cnf"
fi

# Runs openssl quietly; on failure shows its last message on one line.
run_openssl() {
    local log
    if ! log=$(openssl "$@" 2>&1); then
        die "openssl $1 failed: $(printf '%s' "$log" | tail -n 1)"
    fi
}

serial() {
    echo "0x$(openssl rand -hex 16)"
}

(
    umask 077
    for name in ca server client; do
        run_openssl genpkey "${keygen[@]}" -out "$tmp/$name.key"
    done
)
ca_name="tlscat local CA $(openssl rand -hex 4)"
run_openssl req -x509 -new -config "$tmp/openssl.cnf" -extensions ca_ext -sha256 \
    -key "$tmp/ca.key" -subj "/CN=$ca_name" -days "$ca_days" \
    -set_serial "$(serial)" -out "$tmp/ca.crt"
for role in server client; do
    if [ "$role" = server ]; then subject=/CN=localhost; else subject="/CN=$client_cn"; fi
    run_openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/$role.key" -subj "$subject" \
        -out "$tmp/$role.csr"
    run_openssl x509 -req -in "$tmp/$role.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
        -set_serial "$(serial)" -days "$days" -sha256 \
        -extfile "$tmp/openssl.cnf" -extensions "${role}_ext" -out "$tmp/$role.crt"
done

problem=$(set_problem "$tmp")
[ -z "$problem" ] || die "the new set failed its check ($problem); nothing was written to $out"

chmod 600 "$tmp"/*.key
chmod 644 "$tmp"/*.crt
for name in "${files[@]}"; do
    mv -f -- "$tmp/$name" "$out/$name"
done

until=$(openssl x509 -in "$out/server.crt" -noout -enddate | sed 's/^notAfter=//')
cat <<EOF
$prog: made a new set in $out ($kind keys, checked with openssl verify):
  $out/ca.crt      local CA "$ca_name", valid $ca_days days
  $out/server.crt  CN=localhost, $san_list; valid until $until
  $out/client.crt  CN=$client_cn${client_uris[*]:+, ${client_uris[*]}}, for mutual TLS
  $out/ca.key, $out/server.key, $out/client.key  private keys, mode 0600
EOF
