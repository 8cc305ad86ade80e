# Apache Kafka in KRaft mode, from Maven Central jars (scripts/kafka/pom.xml). Sourced by services.sh.
#
#   kafka          one combined broker+controller on 127.0.0.1:${KB_KAFKA_PORT:-19092}
#   kafka-cluster  three combined nodes on 127.0.0.1:19192, 19292, 19392 (small heaps), for failover tests
#
# KB_KAFKA_VERSION picks the version (default 4.1.1; 3.9.x works too). The jars are resolved
# once into .cache/kafka-<version>/libs; Kafka's own tools run from the same class path
# (scripts/kafka-tool.sh).

KAFKA_VERSION="${KB_KAFKA_VERSION:-4.1.1}"
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"

kafka_jars() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then return 0; fi
  log "resolving Kafka $KAFKA_VERSION jars from Maven Central (cached in $KAFKA_LIBS)"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >&2
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() { java -cp "$KAFKA_LIBS/*" "$@"; }

# kafka_node_start NAME NODE_ID PORT CONTROLLER_PORT HEAP QUORUM_MODE
#   QUORUM_MODE: "standalone" (single node, dynamic quorum) or a controller.quorum.voters string.
kafka_node_start() {
  local name=$1 id=$2 port=$3 cport=$4 heap=$5 quorum=$6
  local dir="$STATE_DIR/$name"
  local pidf="$dir/pid" logf="$dir/server.log"
  if pid_alive "$pidf"; then
    wait_port 127.0.0.1 "$port" 60 "$name" "$logf"
    return 0
  fi
  mkdir -p "$dir"
  local props="$dir/server.properties"
  {
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    if [ "$quorum" = standalone ]; then
      echo "controller.quorum.bootstrap.servers=127.0.0.1:$cport"
      echo "offsets.topic.replication.factor=1"
      echo "transaction.state.log.replication.factor=1"
      echo "transaction.state.log.min.isr=1"
      echo "share.coordinator.state.topic.replication.factor=1"
      echo "share.coordinator.state.topic.min.isr=1"
    else
      echo "controller.quorum.voters=$quorum"
      echo "offsets.topic.replication.factor=3"
      echo "transaction.state.log.replication.factor=3"
      echo "transaction.state.log.min.isr=2"
    fi
    echo "group.initial.rebalance.delay.ms=0"
    echo "auto.create.topics.enable=false"
    echo "num.partitions=1"
    echo "log.dirs=$dir/data"
    echo "log.segment.bytes=67108864"
    echo "log.retention.check.interval.ms=5000"
    echo "log.cleaner.backoff.ms=1000"
    echo "delete.topic.enable=true"
  } >"$props"
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id_file="$STATE_DIR/${name%-[0-9]}.cluster-id"
    [ -f "$cluster_id_file" ] || kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$cluster_id_file"
    local fmt=(format -t "$(cat "$cluster_id_file")" -c "$props" --ignore-formatted)
    [ "$quorum" = standalone ] && fmt+=(--standalone)
    kafka_java kafka.tools.StorageTool "${fmt[@]}" >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 1; }
  fi
  # setsid: the broker outlives the shell that started it, and a test's process group kill does not reach it.
  KAFKA_HEAP="$heap" setsid nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.level=WARN -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$props" >"$logf" 2>&1 </dev/null &
  echo $! >"$pidf"
}

kafka_start() {
  kafka_jars
  local port="${KB_KAFKA_PORT:-19092}" cport="${KB_KAFKA_CONTROLLER_PORT:-19093}"
  local t0=$SECONDS
  kafka_node_start kafka 1 "$port" "$cport" "${KB_KAFKA_HEAP:-768m}" standalone
  wait_port 127.0.0.1 "$port" 120 kafka "$STATE_DIR/kafka/server.log"
  log "kafka $KAFKA_VERSION ready in $((SECONDS - t0))s"
  echo "kafka 127.0.0.1:$port"
}

kafka_stop() { stop_pidfile "$STATE_DIR/kafka/pid" kafka; }

kafka_status() {
  if pid_alive "$STATE_DIR/kafka/pid"; then echo "kafka running 127.0.0.1:${KB_KAFKA_PORT:-19092}"; else echo "kafka stopped"; fi
}

KAFKA_CLUSTER_VOTERS="1@127.0.0.1:19193,2@127.0.0.1:19293,3@127.0.0.1:19393"

kafka_cluster_start() {
  kafka_jars
  local t0=$SECONDS i
  for i in 1 2 3; do
    kafka_node_start "kafka-cluster-$i" "$i" "19${i}92" "19${i}93" "${KB_KAFKA_CLUSTER_HEAP:-384m}" "$KAFKA_CLUSTER_VOTERS"
  done
  for i in 1 2 3; do wait_port 127.0.0.1 "19${i}92" 180 "kafka-cluster-$i" "$STATE_DIR/kafka-cluster-$i/server.log"; done
  log "kafka-cluster ready in $((SECONDS - t0))s"
  echo "kafka-cluster 127.0.0.1:19192,127.0.0.1:19292,127.0.0.1:19392"
}

kafka_cluster_stop() {
  local i
  for i in 1 2 3; do stop_pidfile "$STATE_DIR/kafka-cluster-$i/pid" "kafka-cluster-$i"; done
}

kafka_cluster_status() {
  local i
  for i in 1 2 3; do
    if pid_alive "$STATE_DIR/kafka-cluster-$i/pid"; then echo "kafka-cluster-$i running 127.0.0.1:19${i}92"; else echo "kafka-cluster-$i stopped"; fi
  done
}
