# Terrace's default image for cloudformation lifecycle jobs (the seed's recipe).
# Build context: the job's source folder. `terrace template eject cloudformation --to DIR`
# writes this file and entrypoint.sh for you to change.
FROM alpine:3.20
RUN set -e; apk add --no-cache dumb-init jq aws-cli; adduser -D app; mkdir -p /data /terrace-output; \
    chown -R app:app /data /terrace-output
WORKDIR /data
COPY --chown=app:app entrypoint.sh /entrypoint.sh
COPY --chown=app:app . /data/src
USER app
# Set at run time by Terrace: CF_TEMPLATE_NAME (the job's template_file), STACK_NAME,
# AWS_REGION and credentials (job variables), TERRACE_JOB_INPUT (parameters, list format).
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/bin/sh", "/entrypoint.sh"]
CMD ["start"]
