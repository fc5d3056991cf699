#!/bin/sh
# One-shot setup jobs of docker-compose.yml (`setup`: phase elasticsearch; `kibana-setup`:
# phase kibana) and docker-compose.demo.yml (`setup`: both), in the curl image.
#
#   setup.sh [elasticsearch] [kibana]        no argument: both, in that order
#
# Mounts (read-only):
#   /setup                   <- ./config/compose         (this script, gateway-audit-role.json)
#   /assets/elasticsearch    <- ./config/elasticsearch   (index template, lifecycle policy)
#   /assets/kibana           <- ./config/kibana          (data view, saved searches)
#   /ca                      <- volume elastic-ca        (production: the CA certificate)
#
# Phase elasticsearch, in this order (each step idempotent; re-running overwrites):
#   1. POST $ELASTICSEARCH_URL/_security/user/kibana_system/_password   if KIBANA_SYSTEM_PASSWORD is set
#   2. PUT  $ELASTICSEARCH_URL/_security/role/gateway_audit  <- gateway-audit-role.json   if GATEWAY_ES_PASSWORD
#      PUT  $ELASTICSEARCH_URL/_security/user/gateway_audit  (password, role gateway_audit)  is set
#   3. PUT  $ELASTICSEARCH_URL/_ilm/policy/gateway-audit      <- elasticsearch/ilm-policy.json
#   4. PUT  $ELASTICSEARCH_URL/_index_template/gateway-audit  <- elasticsearch/index-template.json
#      (the template names the policy, so the policy goes first)
# Phase kibana:
#   5. POST $KIBANA_URL/api/saved_objects/_import?overwrite=true <- kibana/saved-objects.ndjson
#
# Environment:
#   ELASTICSEARCH_URL                 required by phase elasticsearch
#   KIBANA_URL                        required by phase kibana
#   ASSETS_DIR                        default /assets (holds elasticsearch/ and kibana/)
#   SETUP_DIR                         default: this script's directory (gateway-audit-role.json)
#   ELASTICSEARCH_CA_CERT             optional: verify the server with this CA (curl --cacert)
#   ELASTICSEARCH_API_KEY             optional: sent as "Authorization: ApiKey ..." to both
#   ELASTICSEARCH_USERNAME/_PASSWORD  optional: basic authentication to both
#   KIBANA_SYSTEM_PASSWORD            optional: the password Kibana logs in to Elasticsearch with
#   GATEWAY_ES_USERNAME               default gateway_audit
#   GATEWAY_ES_PASSWORD               optional: creates (or updates) that user with this password
#
# No secret is ever put on a command line (every user of the host sees those in `ps`):
# credentials reach curl through a config file (-K) and JSON bodies through files, both in
# a private temporary directory that is removed when the script ends.
# Any failure stops the script with a non-zero exit and the server's answer on stderr.
set -eu

assets="${ASSETS_DIR:-/assets}"
setup_dir="${SETUP_DIR:-$(cd "$(dirname "$0")" && pwd)}"
policy_name="gateway-audit"
template_name="gateway-audit"
audit_role="gateway_audit"
audit_user="${GATEWAY_ES_USERNAME:-gateway_audit}"

policy_file="$assets/elasticsearch/ilm-policy.json"
template_file="$assets/elasticsearch/index-template.json"
objects_file="$assets/kibana/saved-objects.ndjson"
role_file="$setup_dir/gateway-audit-role.json"

if [ "$#" -eq 0 ]; then
  set -- elasticsearch kibana
fi
for phase in "$@"; do
  case "$phase" in
    elasticsearch | kibana) ;;
    *)
      echo "setup: unknown phase '$phase' (elasticsearch, kibana)" >&2
      exit 2
      ;;
  esac
done

require_file() {
  if [ ! -f "$1" ]; then
    echo "setup: missing $1" >&2
    exit 1
  fi
}

# Escapes backslash and double quote: enough for a JSON string and for a quoted value in a
# curl config file, which use the same two escapes. (printf is a shell builtin: the value
# never becomes a process argument.)
quote() {
  printf '%s' "$1" | sed 's/[\\"]/\\&/g'
}

# A line break can be written safely in neither; refuse it before anything is sent.
for credential in "${ELASTICSEARCH_API_KEY:-}" "${ELASTICSEARCH_USERNAME:-}" "${ELASTICSEARCH_PASSWORD:-}" \
  "${KIBANA_SYSTEM_PASSWORD:-}" "${GATEWAY_ES_PASSWORD:-}"; do
  case "$credential" in
    *'
'*)
      echo "setup: a credential contains a line break" >&2
      exit 1
      ;;
  esac
done
case "$audit_user" in
  '' | *[!A-Za-z0-9_.-]*)
    echo "setup: GATEWAY_ES_USERNAME '$audit_user' may hold only letters, digits, _ . -" >&2
    exit 2
    ;;
esac

umask 077
private="$(mktemp -d)"
trap 'rm -rf "$private"' EXIT
trap 'exit 1' INT TERM HUP

# --fail-with-body: a 4xx/5xx exits non-zero and still prints Elasticsearch's error JSON.
# --retry: transient errors (connection refused, 408, 429, 5xx) are retried a few times.
curl_opts="--silent --show-error --fail-with-body --retry 5 --retry-delay 3 --retry-connrefused --connect-timeout 10 --max-time 120"
curl_config="$private/curl.conf"
: > "$curl_config"
if [ -n "${ELASTICSEARCH_API_KEY:-}" ]; then
  printf 'header = "Authorization: ApiKey %s"\n' "$(quote "$ELASTICSEARCH_API_KEY")" >> "$curl_config"
elif [ -n "${ELASTICSEARCH_USERNAME:-}" ]; then
  password="${ELASTICSEARCH_PASSWORD:?setup: ELASTICSEARCH_PASSWORD is not set}"
  printf 'user = "%s:%s"\n' "$(quote "$ELASTICSEARCH_USERNAME")" "$(quote "$password")" >> "$curl_config"
fi
if [ -n "${ELASTICSEARCH_CA_CERT:-}" ]; then
  require_file "$ELASTICSEARCH_CA_CERT"
  printf 'cacert = "%s"\n' "$(quote "$ELASTICSEARCH_CA_CERT")" >> "$curl_config"
fi

call() {
  # shellcheck disable=SC2086 # curl_opts is a list of options
  curl $curl_opts --config "$curl_config" "$@"
}

# Writes a JSON body to a private file and prints its name.
body() {
  file="$private/$1.json"
  printf '%s' "$2" > "$file"
  printf '%s' "$file"
}

setup_elasticsearch() {
  es_url="${ELASTICSEARCH_URL:?setup: ELASTICSEARCH_URL is not set}"
  require_file "$policy_file"
  require_file "$template_file"

  if [ -n "${KIBANA_SYSTEM_PASSWORD:-}" ]; then
    echo "setup: password of kibana_system -> $es_url"
    file="$(body kibana-system "{\"password\":\"$(quote "$KIBANA_SYSTEM_PASSWORD")\"}")"
    call -X POST "$es_url/_security/user/kibana_system/_password" \
      -H 'Content-Type: application/json' --data-binary "@$file"
    echo
  fi

  if [ -n "${GATEWAY_ES_PASSWORD:-}" ]; then
    require_file "$role_file"
    echo "setup: role $audit_role (create documents in gateway-audit*) -> $es_url"
    call -X PUT "$es_url/_security/role/$audit_role" \
      -H 'Content-Type: application/json' --data-binary "@$role_file"
    echo

    echo "setup: user $audit_user (role $audit_role) -> $es_url"
    file="$(body gateway-user "{\"password\":\"$(quote "$GATEWAY_ES_PASSWORD")\",\"roles\":[\"$audit_role\"],\"full_name\":\"Support gateway audit shipper\"}")"
    call -X PUT "$es_url/_security/user/$audit_user" \
      -H 'Content-Type: application/json' --data-binary "@$file"
    echo
  fi

  echo "setup: ILM policy $policy_name -> $es_url"
  call -X PUT "$es_url/_ilm/policy/$policy_name" \
    -H 'Content-Type: application/json' --data-binary "@$policy_file"
  echo

  echo "setup: index template $template_name (data stream gateway-audit*) -> $es_url"
  call -X PUT "$es_url/_index_template/$template_name" \
    -H 'Content-Type: application/json' --data-binary "@$template_file"
  echo
}

setup_kibana() {
  kibana_url="${KIBANA_URL:?setup: KIBANA_URL is not set}"
  require_file "$objects_file"

  echo "setup: Kibana saved objects -> $kibana_url"
  if ! answer="$(call -X POST "$kibana_url/api/saved_objects/_import?overwrite=true" \
    -H 'kbn-xsrf: true' --form "file=@$objects_file")"; then
    echo "setup: Kibana import failed: $answer" >&2
    exit 1
  fi
  echo "$answer"
  # Kibana answers 200 even when some objects fail to import; only "success":true is success.
  case "$answer" in
    *'"success":true'*) ;;
    *)
      echo "setup: Kibana did not import every saved object" >&2
      exit 1
      ;;
  esac
}

for phase in "$@"; do
  "setup_$phase"
done

echo "setup: done"
