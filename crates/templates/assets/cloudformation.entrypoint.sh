#!/bin/sh
# The same phases Terrace runs for a cloudformation job on the local executor.
set -eu
OUT=${TERRACE_OUTPUT_FILE:-/terrace-output/output.json}
cmd=${1:-start}; [ $# -gt 0 ] && shift
cd /data/src
PARAMS=""
[ -n "${TERRACE_JOB_INPUT:-}" ] && PARAMS="--parameters file://$TERRACE_JOB_INPUT"
case "$cmd" in
  start)
    if aws cloudformation describe-stacks --stack-name "$STACK_NAME" >/dev/null 2>&1; then
      aws cloudformation update-stack --stack-name "$STACK_NAME" --template-body "file://$CF_TEMPLATE_NAME" $PARAMS 2>err.txt \
        || grep -q "No updates are to be performed" err.txt || { cat err.txt >&2; exit 1; }
      aws cloudformation wait stack-update-complete --stack-name "$STACK_NAME"
    else
      aws cloudformation create-stack --stack-name "$STACK_NAME" --template-body "file://$CF_TEMPLATE_NAME" $PARAMS
      aws cloudformation wait stack-create-complete --stack-name "$STACK_NAME"
    fi
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" --output json --query "Stacks[0].Outputs" \
      | jq 'map({(.OutputKey): {value: .OutputValue, sensitive: false}}) | add // {}' > "$OUT" ;;
  stop)   echo "stop: nothing to do" ;;
  delete)
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" >/dev/null 2>&1 || { echo "no stack: nothing to delete"; exit 0; }
    aws cloudformation delete-stack --stack-name "$STACK_NAME"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME" ;;
  raw)    aws cloudformation "$@" ;;
  debug)  echo "debug: sleeping; open a shell in the container"; sleep 86400 ;;
  *)      echo "unknown command: $cmd (start, stop, delete, raw, debug)" >&2; exit 2 ;;
esac
