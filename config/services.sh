#!/bin/sh
# Make sure the servers the test suite needs are installed and running. Called by `make test`.
set -eu

pg_host=${MAILROOM_TEST_PG_HOST:-127.0.0.1}
pg_port=${MAILROOM_TEST_PG_PORT:-5432}

if ! command -v pg_isready >/dev/null 2>&1; then
    echo "services: installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
    echo "services: starting PostgreSQL" >&2
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pg_isready -q -h "$pg_host" -p "$pg_port" && break
        sleep 1
    done
fi
pg_isready -h "$pg_host" -p "$pg_port" >&2 || {
    echo "services: PostgreSQL is not reachable at $pg_host:$pg_port; the tests need it" >&2
    exit 1
}
