# Terrace's default image for terraform / opentofu lifecycle jobs.
# Build context: the job's source folder. `terrace template eject terraform --to DIR` writes
# this file and entrypoint.sh for you to change (tool version, providers mirror, CA bundle).
FROM alpine:3.20
ARG TERRAFORM_VERSION=1.11.4
RUN set -e; apk add --no-cache dumb-init jq curl unzip; \
    curl -fsSL "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" -o /tmp/tf.zip; \
    unzip /tmp/tf.zip -d /usr/local/bin; rm /tmp/tf.zip; adduser -D app; mkdir -p /data /terrace-output /terrace-state; \
    chown -R app:app /data /terrace-output /terrace-state
WORKDIR /data
COPY --chown=app:app entrypoint.sh /entrypoint.sh
COPY --chown=app:app . /data/src
USER app
# TERRACE_JOB_INPUT (the parameters file) and the job's variables are set by Terrace at run time.
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/bin/sh", "/entrypoint.sh"]
CMD ["start"]
