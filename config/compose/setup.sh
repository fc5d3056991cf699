#!/bin/sh
# One-shot setup job run by the `setup` service of docker-compose.yml (curl image), after
# Elasticsearch and Kibana are healthy. Mounts (read-only):
#   /setup                   <- ./config/compose         (this script)
#   /assets/elasticsearch    <- ./config/elasticsearch   (index template, lifecycle policy)
#   /assets/kibana           <- ./config/kibana          (data view, saved searches)
#
# Loads, in this order (each step is idempotent; re-running overwrites):
#   1. PUT  $ELASTICSEARCH_URL/_ilm/policy/gateway-audit       <- elasticsearch/ilm-policy.json
#   2. PUT  $ELASTICSEARCH_URL/_index_template/gateway-audit   <- elasticsearch/index-template.json
#      (the template names the policy, so the policy goes first)
#   3. POST $KIBANA_URL/api/saved_objects/_import?overwrite=true <- kibana/saved-objects.ndjson
#
# Environment:
#   ELASTICSEARCH_URL, KIBANA_URL   required
#   ASSETS_DIR                      default /assets (holds elasticsearch/ and kibana/)
#   ELASTICSEARCH_API_KEY           optional: sent as "Authorization: ApiKey ..." to both
#   ELASTICSEARCH_USERNAME/_PASSWORD optional: basic authentication to both
# Any failure stops the script with a non-zero exit and the server's answer on stderr.
set -eu

es_url="${ELASTICSEARCH_URL:?setup: ELASTICSEARCH_URL is not set}"
kibana_url="${KIBANA_URL:?setup: KIBANA_URL is not set}"
assets="${ASSETS_DIR:-/assets}"
policy_name="gateway-audit"
template_name="gateway-audit"

policy_file="$assets/elasticsearch/ilm-policy.json"
template_file="$assets/elasticsearch/index-template.json"
objects_file="$assets/kibana/saved-objects.ndjson"
for f in "$policy_file" "$template_file" "$objects_file"; do
  if [ ! -f "$f" ]; then
    echo "setup: missing $f" >&2
    exit 1
  fi
done

# --fail-with-body: a 4xx/5xx exits non-zero and still prints Elasticsearch's error JSON.
# --retry: transient errors (connection refused, 408, 429, 5xx) are retried a few times.
curl_opts="--silent --show-error --fail-with-body --retry 5 --retry-delay 3 --retry-connrefused --connect-timeout 10 --max-time 120"

call() {
  if [ -n "${ELASTICSEARCH_API_KEY:-}" ]; then
    # shellcheck disable=SC2086 # curl_opts is a list of options
    curl $curl_opts -H "Authorization: ApiKey $ELASTICSEARCH_API_KEY" "$@"
  elif [ -n "${ELASTICSEARCH_USERNAME:-}" ]; then
    # shellcheck disable=SC2086
    curl $curl_opts -u "$ELASTICSEARCH_USERNAME:${ELASTICSEARCH_PASSWORD:?setup: ELASTICSEARCH_PASSWORD is not set}" "$@"
  else
    # shellcheck disable=SC2086
    curl $curl_opts "$@"
  fi
}

echo "setup: ILM policy $policy_name -> $es_url"
call -X PUT "$es_url/_ilm/policy/$policy_name" \
  -H 'Content-Type: application/json' --data-binary "@$policy_file"
echo

echo "setup: index template $template_name (data stream gateway-audit*) -> $es_url"
call -X PUT "$es_url/_index_template/$template_name" \
  -H 'Content-Type: application/json' --data-binary "@$template_file"
echo

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

echo "setup: done"
