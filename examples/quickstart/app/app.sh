#!/bin/sh
set -eu
case "$1" in
  deploy)
    echo "$GREETING: deploying app against $DB_HOST:$DB_PORT with password $DB_PASSWORD"
    echo "full output name: $TERRACE_OUTPUT_JOB_DATABASE_DB_HOST"
    printf '{"APP_URL": {"value": "https://app.%s.example.test", "sensitive": false}}' "$TERRACE_ENVIRONMENT" > "$TERRACE_OUTPUT_FILE";;
  stop) echo "scaling app to zero";;
  delete) echo "deleting app (it goes first: it depends on the database)";;
esac
