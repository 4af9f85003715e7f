#!/bin/sh
# signal-node.sh SIGNAL DIR: sends SIGNAL to the postmaster of the cluster in
# DIR and to every backend it forked (children first, so none is missed by
# re-parenting).
set -u
sig=$1 dir=$2
pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null) || exit 0
[ -n "$pid" ] || exit 0
pkill "-$sig" -P "$pid" || true
kill "-$sig" "$pid" 2>/dev/null || true
