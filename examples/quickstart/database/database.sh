#!/bin/sh
set -eu
case "$1" in
  create)
    echo "creating a $INSTANCE_SIZE database in $vpc_id (zones $zones) with admin token $admin_token"
    password="pw-$(date +%s)-$$"
    cat > "$TERRACE_OUTPUT_FILE" <<JSON
{"DB_HOST": {"value": "db.$TERRACE_ENVIRONMENT.internal", "sensitive": false},
 "DB_PASSWORD": {"value": "$password", "sensitive": true},
 "DB_PORT": {"value": 5432, "sensitive": false}}
JSON
    sleep 0.5  # Terrace reads the output file while the job runs: from now on the password is masked
    echo "database ready; password is $password";;
  stop) echo "pausing database $DB_HOST";;
  delete) echo "deleting database $DB_HOST";;
esac
