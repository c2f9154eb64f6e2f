#!/bin/sh
# Prints the api's PGW_SECRET_PUBLIC_KEY for the PGW_SECRET_KEY read from stdin (64 hex characters,
# as generate-env.sh writes it), with openssl only: the key never is in a command's arguments.
#   sed -n 's/^PGW_SECRET_KEY=//p' /etc/pgw/health.env | sh docker/secret-public-key.sh
# As @pgw/crypto's sealingPublicKey (packages/crypto/src/sealed-box.ts): the X25519 private key is
# SHA-256 of a label and the key's lowercase hex, in a PKCS#8 frame (RFC 8410); the public key is the
# last 32 bytes of its SubjectPublicKeyInfo, in base64.
set -eu
IFS= read -r key || true
key=$(printf '%s' "$key" | tr 'A-F' 'a-f')
case $key in *[!0-9a-f]*|'') echo "secret-public-key: stdin must be PGW_SECRET_KEY as 64 hex characters" >&2; exit 1 ;; esac
[ ${#key} -eq 64 ] || { echo "secret-public-key: stdin must be PGW_SECRET_KEY as 64 hex characters, got ${#key}" >&2; exit 1; }
public=$({ printf '\060\056\002\001\000\060\005\006\003\053\145\156\004\042\004\040'
  { printf 'pgw proxy password sealing key v2\n'; printf '%s' "$key"; } | openssl dgst -sha256 -binary
} | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | openssl base64 -A)
[ ${#public} -eq 44 ] || { echo "secret-public-key: openssl could not derive the key (X25519 needs OpenSSL 1.1.1 or later)" >&2; exit 1; }
printf '%s\n' "$public"
