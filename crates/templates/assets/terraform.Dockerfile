# Terrace's default image for terraform / opentofu jobs on a container executor: it only
# installs the tool. Terrace runs the template's phases in it (init; plan to a saved file;
# apply that plan; output -json), each as one command with the run's working copy mounted
# at /data/src, exactly as it runs them on the local executor: there is no entrypoint
# script to keep in step. `terrace template show terraform` lists the phases.
# `terrace template eject terraform --to DIR` writes this file for you to change (tool
# version, providers mirror, CA bundle); the image needs no build context.
FROM alpine:3.20
ARG TERRAFORM_VERSION=1.11.4
RUN set -e; apk add --no-cache dumb-init curl unzip; \
    curl -fsSL "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" -o /tmp/tf.zip; \
    unzip /tmp/tf.zip -d /usr/local/bin; rm /tmp/tf.zip; apk del curl unzip; adduser -D app; \
    mkdir -p /data/src /terrace-output /terrace-state; chown -R app:app /data /terrace-output /terrace-state
WORKDIR /data/src
USER app
# Signals reach the tool, and its children are reaped; the command is Terrace's.
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
