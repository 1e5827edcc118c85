# Terrace's default image for shell jobs on a container executor: a shell. Terrace runs
# the job's own command for the event in it, with the run's working copy mounted at
# /data/src, as it does on the local executor. The image needs no build context.
FROM alpine:3.20
RUN apk add --no-cache dumb-init && adduser -D app && mkdir -p /data/src /terrace-output && chown -R app:app /data /terrace-output
WORKDIR /data/src
USER app
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
