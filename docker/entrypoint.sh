#!/bin/sh
# Shared entrypoint of every Invoice Scanner image: fail fast, with a message an operator can
# act on, when the documents volume is not writable by the service user (a bind mount owned
# by another uid is the usual cause), then hand PID 1 over to the command so it gets SIGTERM.
set -eu

dir="${DOCUMENTS_DIR:-/data/documents}"
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    echo "invoice-scanner: DOCUMENTS_DIR $dir is not writable by uid $(id -u);" \
         "give the volume to uid 10001 (chown -R 10001:10001 <host dir>)" >&2
    exit 70
fi

exec "$@"
