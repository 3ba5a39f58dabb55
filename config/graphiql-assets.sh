#!/bin/sh
# Refresh the GraphiQL assets that Mailroom serves (mailroom/graphql/static/graphiql/, whose
# README says what each file is). Called by `make graphiql-assets`; needs npm and openssl.
#
# Each package below is fetched at its pinned version with `npm pack` (from the npm registry
# npm is configured with), checked against its pinned sha512 integrity, and its built files
# copied. The copied files are committed: Mailroom fetches nothing at run time or at install.
# To upgrade one, change its version and integrity (`npm view NAME@VERSION dist.integrity`),
# run this, update the README's table, and run tests/e2e/test_graphiql_browser.py.
set -eu

cd "$(dirname "$0")/.."
dest=mailroom/graphql/static/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# GraphiQL 4 is the last major with a prebuilt browser bundle (UMD); React 18 the last with
# UMD builds, and one GraphiQL 4 supports.
GRAPHIQL=4.1.2
GRAPHIQL_INTEGRITY=sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==
REACT=18.3.1
REACT_INTEGRITY=sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==
REACT_DOM_INTEGRITY=sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==

# unpack NAME VERSION INTEGRITY: the package's tarball, checked, unpacked in $work/NAME.
unpack() {
    tarball=$(cd "$work" && npm pack --silent "$1@$2")
    actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 | tr -d '\n')"
    if [ "$actual" != "$3" ]; then
        echo "graphiql-assets: $1@$2 has integrity $actual, not the pinned $3" >&2
        exit 1
    fi
    mkdir -p "$work/$1"
    tar -xzf "$work/$tarball" -C "$work/$1"
}

unpack graphiql "$GRAPHIQL" "$GRAPHIQL_INTEGRITY"
unpack react "$REACT" "$REACT_INTEGRITY"
unpack react-dom "$REACT" "$REACT_DOM_INTEGRITY"

mkdir -p "$dest"
cp "$work/graphiql/package/graphiql.min.js" "$work/graphiql/package/graphiql.min.css" "$dest/"
cp "$work/graphiql/package/LICENSE" "$dest/LICENSE.graphiql"
cp "$work/react/package/umd/react.production.min.js" "$dest/"
cp "$work/react/package/LICENSE" "$dest/LICENSE.react"
cp "$work/react-dom/package/umd/react-dom.production.min.js" "$dest/"
cp "$work/react-dom/package/LICENSE" "$dest/LICENSE.react-dom"
echo "graphiql-assets: GraphiQL $GRAPHIQL and React $REACT copied into $dest" >&2
