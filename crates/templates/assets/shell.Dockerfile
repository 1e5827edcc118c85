# Terrace's default image for shell lifecycle jobs: your source folder and a shell.
FROM alpine:3.20
RUN apk add --no-cache dumb-init && adduser -D app && mkdir -p /data /terrace-output && chown -R app:app /data /terrace-output
WORKDIR /data/src
COPY --chown=app:app . /data/src
USER app
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
