#!/bin/sh
# One-shot `certs` job of docker-compose.yml, run as root in the Elasticsearch image before
# Elasticsearch starts (after Elastic's own docker-compose example). Mounts:
#   /setup                                    <- ./config/compose (this script, read-only)
#   /usr/share/elasticsearch/config/certs     <- volume es-certs   (Elasticsearch's TLS files)
#   /ca                                       <- volume elastic-ca (the CA certificate, for clients)
#
# Makes, with elasticsearch-certutil (PEM):
#   $CERTS_DIR/ca.crt                          the CA certificate
#   $CERTS_DIR/$ES_NODE_NAME/$ES_NODE_NAME.crt  the node certificate (DNS $ES_NODE_NAME and
#   $CERTS_DIR/$ES_NODE_NAME/$ES_NODE_NAME.key  localhost, IP 127.0.0.1) and its key
#   $CA_EXPORT_DIR/ca.crt                      a copy of the CA certificate, world-readable
# The CA key never leaves a private temporary directory and is deleted once the node
# certificate is signed: nobody can mint another certificate this deployment trusts.
# Renewing therefore means a new CA too (CERTS_RENEW=1; docs/production.md).
#
# Existing certificates are kept, so re-running (every `docker compose up`) changes nothing.
#
# Environment:
#   CERTS_DIR       default /usr/share/elasticsearch/config/certs
#   CA_EXPORT_DIR   default /ca
#   ES_NODE_NAME    default elasticsearch (the compose service name clients connect to)
#   ES_HOME         default /usr/share/elasticsearch (holds bin/elasticsearch-certutil)
#   CERT_DAYS       default 1095 (validity of the CA and the node certificate)
#   CERTS_RENEW     1: replace the CA and the node certificate
#   CERTS_OWNER     default root:root; Elasticsearch runs as uid 1000 in group root (gid 0),
#                   so group-readable root files are readable by it and by nobody else
set -eu

certs="${CERTS_DIR:-/usr/share/elasticsearch/config/certs}"
ca_export="${CA_EXPORT_DIR:-/ca}"
node="${ES_NODE_NAME:-elasticsearch}"
certutil="${ES_HOME:-/usr/share/elasticsearch}/bin/elasticsearch-certutil"
days="${CERT_DAYS:-1095}"
owner="${CERTS_OWNER:-root:root}"

case "$node" in
  *[!a-z0-9-]* | '' | -*)
    echo "certs: ES_NODE_NAME '$node' must be a host name (a-z, 0-9, -)" >&2
    exit 2
    ;;
esac

have_certs() {
  [ -s "$certs/ca.crt" ] && [ -s "$certs/$node/$node.crt" ] && [ -s "$certs/$node/$node.key" ]
}

if [ "${CERTS_RENEW:-}" != "1" ] && have_certs; then
  echo "certs: $certs holds a CA and a certificate for $node; kept (CERTS_RENEW=1 replaces them)"
else
  umask 077
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  trap 'exit 1' INT TERM

  echo "certs: creating a CA (valid $days days)"
  "$certutil" ca --silent --pem --days "$days" --out "$work/ca.zip"
  unzip -q "$work/ca.zip" -d "$work/ca-files"

  echo "certs: creating the certificate of $node"
  cat > "$work/instances.yml" <<EOF
instances:
  - name: $node
    dns:
      - $node
      - localhost
    ip:
      - 127.0.0.1
EOF
  "$certutil" cert --silent --pem --days "$days" --in "$work/instances.yml" --out "$work/certs.zip" \
    --ca-cert "$work/ca-files/ca/ca.crt" --ca-key "$work/ca-files/ca/ca.key"
  unzip -q "$work/certs.zip" -d "$work/issued"

  for f in "$work/ca-files/ca/ca.crt" "$work/issued/$node/$node.crt" "$work/issued/$node/$node.key"; do
    if [ ! -s "$f" ]; then
      echo "certs: elasticsearch-certutil did not produce $f" >&2
      exit 1
    fi
  done

  # The node key and certificate first, the CA last: have_certs() only sees a complete set.
  rm -f "$certs/ca.crt"
  mkdir -p "$certs/$node"
  cp "$work/issued/$node/$node.key" "$certs/$node/$node.key"
  cp "$work/issued/$node/$node.crt" "$certs/$node/$node.crt"
  cp "$work/ca-files/ca/ca.crt" "$certs/ca.crt"
  # $work (with ca.key) is removed by the EXIT trap.
fi

chown -R "$owner" "$certs"
find "$certs" -type d -exec chmod 750 {} +
find "$certs" -type f -exec chmod 640 {} +

# The clients (gateway, Kibana, setup) get the CA certificate and nothing else. Copy, then
# rename: a client re-reading the directory never sees half a file.
mkdir -p "$ca_export"
cp "$certs/ca.crt" "$ca_export/.ca.crt.new"
chmod 644 "$ca_export/.ca.crt.new"
mv -f "$ca_export/.ca.crt.new" "$ca_export/ca.crt"
chmod 755 "$ca_export"

echo "certs: done ($certs; CA certificate in $ca_export/ca.crt)"
