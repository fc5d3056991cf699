#!/bin/sh
# One-shot setup job run by the `setup` service of docker-compose.yml (curl image), after
# Elasticsearch and Kibana are healthy. Mounts (read-only):
#   /setup                   <- ./config/compose         (this script)
#   /assets/elasticsearch    <- ./config/elasticsearch   (index template, lifecycle policy)
#   /assets/kibana           <- ./config/kibana          (data view, saved searches)
# Environment: ELASTICSEARCH_URL, KIBANA_URL.
#
# PLACEHOLDER: the ECS index template, the lifecycle policy and the Kibana saved objects
# arrive with the audit pipeline; until then this script loads nothing and says so.
set -eu

echo "setup: no Elasticsearch index template or Kibana objects to load yet (they arrive with the audit pipeline); nothing done"
exit 0
