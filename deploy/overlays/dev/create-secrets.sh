#!/usr/bin/env bash
# Creates the Secrets the dev overlay refers to, with freshly generated keys,
# in namespace haven. A Secret that already exists is left alone: regenerating
# HAVEN_FILE_MASTER_KEY or the TOTP key would make stored files and soft keys
# unreadable. Production creates the same Secrets from its own secret store
# (docs/operations.md, "Secrets").
set -euo pipefail
NS=${NAMESPACE:-haven}
kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

create() {  # create NAME [--from-literal=... | --from-file=...]...
  local name=$1
  shift
  if kubectl -n "$NS" get secret "$name" >/dev/null 2>&1; then
    echo "secret/$name exists, kept"
  else
    kubectl -n "$NS" create secret generic "$name" "$@"
  fi
}

openssl genpkey -algorithm ed25519 -out "$tmp/signing.pem"
openssl pkey -in "$tmp/signing.pem" -pubout -out "$tmp/public.pem"
create haven-token-keys --from-file=signing-key="$tmp/signing.pem" --from-file=public-key="$tmp/public.pem"
create haven-identity-keys \
  --from-literal=secret-key="$(openssl rand -base64 48)" \
  --from-literal=totp-encryption-key="$(openssl rand -base64 32)"
create haven-files-keys --from-literal=master-key="$(openssl rand -base64 32)"
create haven-s3 --from-literal=access-key=haven-files --from-literal=secret-key="$(openssl rand -hex 24)"
create haven-minio-root --from-literal=rootUser=admin --from-literal=rootPassword="$(openssl rand -hex 24)"
# The dev mail catcher needs no login; an empty Secret keeps the references whole.
create haven-smtp
