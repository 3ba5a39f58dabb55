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

# Postfix, dnsmasq and Dovecot: the tests start their own instances on free loopback ports
# (tests/e2e/services.py, tests/imap/services.py), so only the binaries are wanted here, never
# the system services. dnsmasq-base is the binary alone; the `dnsmasq` package would add a
# service for port 53. dovecot-imapd brings dovecot-core (the master, doveadm) and the imap
# and imap-login processes; the IMAP tests also make TLS certificates with openssl. Chromium
# and its driver run GraphiQL headless (tests/e2e/test_graphiql_browser.py).
missing=""
[ -x /usr/sbin/postfix ] || missing="$missing postfix"
[ -x /usr/sbin/dnsmasq ] || missing="$missing dnsmasq-base"
[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] || missing="$missing dovecot-imapd"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
    echo "services: installing$missing from Debian's packages" >&2
    # "No configuration" makes postfix's postinst write no /etc/postfix/main.cf and start
    # nothing, and keeps it from asking questions.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt_log=$(mktemp)
    # shellcheck disable=SC2086 # $missing is a list of package names
    if ! { apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confold $missing; } >"$apt_log" 2>&1
    then
        cat "$apt_log" >&2
        echo "services: could not install$missing with apt-get (log above); the tests need" \
            "/usr/sbin/postfix, /usr/sbin/dnsmasq, /usr/sbin/dovecot, openssl," \
            "/usr/bin/chromium and /usr/bin/chromedriver" >&2
        exit 1
    fi
    rm -f "$apt_log"
fi
# Whatever the packages registered, no system-wide instance may run or start at boot: it would
# hold port 25, 53, 143 or 993. Each step is a no-op once done.
if [ -e /lib/systemd/system/postfix.service ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --quiet postfix.service >/dev/null 2>&1 || true
fi
if [ -e /etc/init.d/postfix ]; then
    update-rc.d postfix disable >/dev/null 2>&1 || true
fi
if [ -e /etc/postfix/main.cf ] && /usr/sbin/postfix status >/dev/null 2>&1; then
    echo "services: stopping the system Postfix (the tests run their own)" >&2
    /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi
if [ -e /etc/init.d/dnsmasq ]; then
    systemctl disable --quiet dnsmasq.service >/dev/null 2>&1 || true
    update-rc.d dnsmasq disable >/dev/null 2>&1 || true
    /etc/init.d/dnsmasq stop >/dev/null 2>&1 || true
fi
# Debian's dovecot-core registers a service and, under systemd, a socket unit that would start
# it on the first connection to port 143; its postinst starts it unless policy-rc.d forbids.
# Disabling works without a running systemd too; stopping needs one, hence two commands.
if [ -e /lib/systemd/system/dovecot.service ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --quiet dovecot.socket dovecot.service >/dev/null 2>&1 || true
    systemctl stop dovecot.socket dovecot.service >/dev/null 2>&1 || true
fi
if [ -e /etc/init.d/dovecot ]; then
    update-rc.d dovecot disable >/dev/null 2>&1 || true
fi
# The system instance keeps its pid in the default base_dir; the tests' instances have their own
# base_dir, so this never touches them. A signal rather than `dovecot stop`, which would first
# parse /etc/dovecot, and Debian's configuration there does not parse without its certificate.
if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    echo "services: stopping the system Dovecot (the tests run their own)" >&2
    kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
