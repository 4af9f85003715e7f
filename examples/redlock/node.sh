#!/bin/sh
# Runs one Redis server of examples/redlock in the foreground: exec hands
# this process to redis-server, so faultline's signals reach it.
#
#   node.sh REDIS-SERVER-ARGS...
#
# Under --nemesis clock faultline preloads libfaketime. Debian's redis-server
# allocates with jemalloc, whose start-up reads the clock before libfaketime
# has initialised: libfaketime 0.9.10 then hangs the server for good
# ("Unexpected recursive calls to clock_gettime()"). Preloading glibc after
# libfaketime puts glibc's malloc ahead of jemalloc in symbol lookup, so the
# server allocates with glibc and starts; its clock is still libfaketime's.
# (Redis then reports mem_allocator jemalloc, but allocates nothing there.)
set -eu
case "${LD_PRELOAD:-}" in
*faketime*)
  libc=$(ldd /usr/bin/redis-server | awk '$1 ~ /^libc\.so/ { print $3 }')
  [ -n "$libc" ] || { echo "node.sh: cannot find redis-server's libc" >&2; exit 1; }
  export LD_PRELOAD="$LD_PRELOAD $libc"
  ;;
esac
exec /usr/bin/redis-server "$@"
