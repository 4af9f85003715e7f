#!/bin/sh
# Runs one ZooKeeper 3.8 server of the ensemble in the foreground (faultline
# signals this process: exec hands it to the JVM).
#
#   node.sh NODE DATA_DIR CLIENT_ADDR PEERS
#
# NODE is n1, n2, ...; its number is the server id (myid). PEERS is
# faultline's {peers}: n1=HOST:PORT,n2=HOST:PORT,... Each server uses PORT
# for the quorum (follower <-> leader) and PORT+1 for leader election:
# ZooKeeper needs two peer ports and faultline hands out one.
set -eu
node=$1 data=$2 client=$3 peers=$4

id=${node#n}
mkdir -p "$data/zk"
echo "$id" >"$data/zk/myid"

cfg=$data/zoo.cfg
{
  # Short ticks so that elections and failure detection take 1-2 s:
  # a follower that hears nothing from its leader for syncLimit ticks
  # (2 s) leaves it; sessions may last 2 to 20 ticks (0.4-4 s).
  echo "tickTime=200"
  echo "initLimit=25"
  echo "syncLimit=10"
  echo "dataDir=$data/zk"
  echo "clientPortAddress=${client%:*}"
  echo "clientPort=${client##*:}"
  echo "admin.enableServer=false"
  echo "4lw.commands.whitelist=srvr,ruok,stat,mntr"
  echo "autopurge.purgeInterval=0"
  # Small transaction-log files (KB): the default preallocates 64 MB per node.
  echo "preAllocSize=1024"
  for peer in $(echo "$peers" | tr ',' ' '); do
    name=${peer%%=*} addr=${peer#*=}
    host=${addr%:*} port=${addr##*:}
    echo "server.${name#n}=$host:$port:$((port + 1))"
  done
} >"$cfg"

# log4j (through slf4j, both dependencies of the package) writes to stderr (kept by faultline as nodes/<node>/stderr.log).
cat >"$data/log4j.properties" <<'LOG'
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.err
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] %-5p [%t:%C{1}@%L] - %m%n
LOG

# Make what this script wrote durable (files, then the directories naming
# them), so that a power loss (--nemesis power-loss) forgets only what
# ZooKeeper itself did not fsync.
sync "$data/zk/myid" "$cfg" "$data/log4j.properties" "$data/zk" "$data"

# A small heap: the machine's two cores and memory are shared.
exec java -Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dzookeeper.log.dir="$data" \
  -Dlog4j.configuration="file:$data/log4j.properties" \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
