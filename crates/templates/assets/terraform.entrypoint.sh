#!/bin/sh
# The same phases Terrace runs for a terraform job on the local executor:
# start = init, plan to a saved file, apply that plan, output -json as the job output.
set -eu
TF=${TERRAFORM_BINARY:-terraform}
OUT=${TERRACE_OUTPUT_FILE:-/terrace-output/output.json}
PLAN=/terrace-state/tfplan
VARFILE=""
[ -n "${TERRACE_JOB_INPUT:-}" ] && VARFILE="-var-file=$TERRACE_JOB_INPUT"
cmd=${1:-start}; [ $# -gt 0 ] && shift
cd /data/src
"$TF" init -input=false -no-color
case "$cmd" in
  start)  "$TF" plan -input=false -no-color -out="$PLAN" $VARFILE
          "$TF" apply -input=false -no-color "$PLAN"
          "$TF" output -json > "$OUT" ;;
  stop)   echo "stop: nothing to do" ;;
  delete) "$TF" destroy -auto-approve -input=false -no-color $VARFILE ;;
  plan)   "$TF" plan -input=false -no-color -out="$PLAN" $VARFILE ;;
  raw)    "$TF" "$@" ;;
  debug)  echo "debug: sleeping; open a shell in the container"; sleep 86400 ;;
  *)      echo "unknown command: $cmd (start, stop, delete, plan, raw, debug)" >&2; exit 2 ;;
esac
