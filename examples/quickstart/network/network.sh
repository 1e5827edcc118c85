#!/bin/sh
# A stand-in for an IaC tool: reads its one parameters file and writes the output file.
set -eu
case "$1" in
  create)
    echo "creating network in $REGION from parameters $(cat "$TERRACE_JOB_INPUT")"
    vpc="vpc-$(printf '%s' "$TERRACE_ENVIRONMENT" | cksum | cut -c1-8)"
    cat > "$TERRACE_OUTPUT_FILE" <<JSON
{"VPC_ID": {"value": "$vpc", "sensitive": false},
 "ZONES": {"value": ["a", "b"], "sensitive": false}}
JSON
    echo "network $vpc ready";;
  delete)
    echo "deleting network $VPC_ID";;
esac
