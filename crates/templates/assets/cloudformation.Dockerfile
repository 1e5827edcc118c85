# Terrace's default image for cloudformation jobs on a container executor: it only
# installs the aws CLI. Terrace runs the template's phases in it (describe-stacks;
# create-stack or update-stack; wait; describe-stacks for the Outputs; delete-stack), each
# as one command with the run's working copy mounted at /data/src, exactly as it runs them
# on the local executor: there is no entrypoint script to keep in step.
# `terrace template show cloudformation` lists the phases.
# `terrace template eject cloudformation --to DIR` writes this file for you to change; the
# image needs no build context. AWS_REGION and credentials come from job variables.
FROM alpine:3.20
RUN set -e; apk add --no-cache dumb-init aws-cli; adduser -D app; \
    mkdir -p /data/src /terrace-output; chown -R app:app /data /terrace-output
WORKDIR /data/src
USER app
# Signals reach the CLI; the command is Terrace's.
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
