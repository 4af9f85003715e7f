#!/bin/sh
# One node of examples/redis: a redis-sentinel (in the background, once) and
# a redis-server (in the foreground, so faultline signals it). The first node
# of the list starts as the primary, the others as its replicas; after that,
# the sentinels decide who is primary.
#   node.sh NODE HOST PORT PEER_ADDRS DATA_DIR
set -eu
node=$1 host=$2 port=$3 peers=$4 dir=$5
primary=${peers%%,*}
phost=${primary%:*} pport=${primary##*:}
mkdir -p "$dir"

# A restarted node keeps the sentinel it already has (it rewrote its config).
if ! kill -0 "$(cat "$dir/sentinel.pid" 2>/dev/null)" 2>/dev/null; then
  cat > "$dir/sentinel.conf" <<CONF
port 26379
bind $host
protected-mode no
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
dir $dir
sentinel monitor mymaster $phost $pport 2
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 6000
sentinel parallel-syncs mymaster 1
CONF
  redis-sentinel "$dir/sentinel.conf"
fi

replica=""
[ "$host:$port" = "$primary" ] || replica="--replicaof $phost $pport"
# No persistence: a node's data is what replication gives it. Replicas sync
# at once (no 5 s wait for more replicas to join a diskless sync).
# shellcheck disable=SC2086
exec redis-server --port "$port" --bind "$host" --protected-mode no \
  --dir "$dir" --save "" --appendonly no --logfile "" \
  --repl-diskless-sync-delay 0 $replica
