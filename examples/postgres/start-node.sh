#!/bin/sh
# start-node.sh DIR HOST PORT: creates a PostgreSQL cluster in DIR on first
# start (owned by the postgres user, trust auth on HOST), then execs the
# server as that user, so the caller's PID is the postmaster's.
set -eu
dir=$1 host=$2 port=$3
bin=/usr/lib/postgresql/15/bin
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups --"
if ! $as_postgres test -x "$(dirname "$dir")"; then
  echo "start-node.sh: the postgres user cannot reach $(dirname "$dir"); make the directories above it searchable (chmod o+x), or use a store outside a private directory" >&2
  exit 1
fi
if [ ! -s "$dir/PG_VERSION" ]; then
  install -d -o postgres -g postgres -m 700 "$dir"
  $as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust --no-instructions >"$dir.initdb.log" 2>&1 || {
    cat "$dir.initdb.log" >&2; exit 1; }
  # initdb fsyncs DIR and all in it, not the directory naming DIR: without
  # this a power loss (--nemesis power-loss) forgets the whole cluster, and
  # the next start makes a new, empty one.
  sync "$(dirname "$dir")"
fi
# fsync stays on (the default): a crash must not lose a committed txn.
# No Unix socket (clients use TCP on HOST): its path would be under DIR, and
# a path longer than 107 bytes (a store with long run names) stops the server.
exec $as_postgres "$bin/postgres" -D "$dir" -p "$port" \
  -c listen_addresses="$host" -c unix_socket_directories= \
  -c max_connections=100 -c logging_collector=off -c log_min_messages=warning \
  -c log_destination=stderr
