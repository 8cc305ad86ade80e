# Apache Kafka in KRaft mode, from Maven Central jars (scripts/kafka/pom.xml). Sourced by services.sh.
#
#   kafka          one combined broker+controller on 127.0.0.1:${KB_KAFKA_PORT:-19092}
#   kafka-cluster  three combined nodes on 127.0.0.1:19192, 19292, 19392 (small heaps), for failover tests
#   kafka-39       one combined node of Kafka 3.9.1 on 127.0.0.1:19492, for the tests that run against
#                  the older release line as source and target
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
    # a deleted topic's files go after 1 s, not 60 s later in the middle of a later benchmark step
    echo "file.delete.delay.ms=1000"
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

KAFKA_39_VERSION=3.9.1

kafka_39_start() {
  # dynamic scope: kafka_jars and kafka_node_start see this version's jars
  local KAFKA_VERSION=$KAFKA_39_VERSION
  local KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_39_VERSION/libs"
  kafka_jars
  local t0=$SECONDS
  kafka_node_start kafka-39 1 19492 19493 "${KB_KAFKA_39_HEAP:-512m}" standalone
  wait_port 127.0.0.1 19492 120 kafka-39 "$STATE_DIR/kafka-39/server.log"
  log "kafka-39 $KAFKA_39_VERSION ready in $((SECONDS - t0))s"
  echo "kafka-39 127.0.0.1:19492"
}

kafka_39_stop() { stop_pidfile "$STATE_DIR/kafka-39/pid" kafka-39; }

kafka_39_status() {
  if pid_alive "$STATE_DIR/kafka-39/pid"; then echo "kafka-39 running 127.0.0.1:19492"; else echo "kafka-39 stopped"; fi
}

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

# kafka-secure: one combined broker+controller with authenticated listeners, for the security tests.
#
#   127.0.0.1:19592  SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured JWTs)
#   127.0.0.1:19593  SASL_SSL        SCRAM-SHA-512 (server certificate only)
#   127.0.0.1:19594  SSL             client certificate required (mTLS)
#   127.0.0.1:19595  PLAINTEXT       inter-broker listener, loopback only; the tests use it as a super user
#   127.0.0.1:19596  CONTROLLER      PLAINTEXT, loopback only
#
# Users (SCRAM users are created when the storage is formatted, PLAIN users live in the JAAS config):
#   backup / backup-secret   SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; an ordinary user (needs ACLs)
#   restore / restore-secret SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; an ordinary user (needs ACLs)
#   admin / admin-secret     SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; super user
# The mTLS client certificate maps to the principal User:CN=kafka-backup-client (needs ACLs).
# StandardAuthorizer is on and allow.everyone.if.no.acl.found=false, so the ACLs docs/security.md
# lists are the ones really checked. Certificates: $STATE_DIR/kafka-secure/certs (scripts/services/certs.sh).
KAFKA_SECURE_PORTS=(19592 19593 19594 19595 19596)

kafka_secure_start() {
  kafka_jars
  # shellcheck source=scripts/services/certs.sh
  . "$ROOT/scripts/services/certs.sh"
  local name=kafka-secure dir="$STATE_DIR/kafka-secure"
  local certs="$dir/certs" pidf="$dir/pid" logf="$dir/server.log"
  local sp=${KAFKA_SECURE_PORTS[0]} ssp=${KAFKA_SECURE_PORTS[1]} tp=${KAFKA_SECURE_PORTS[2]}
  local ip=${KAFKA_SECURE_PORTS[3]} cp=${KAFKA_SECURE_PORTS[4]}
  local t0=$SECONDS
  if ! pid_alive "$pidf"; then
    mkdir -p "$dir"
    certs_ensure "$certs"
    local scram='org.apache.kafka.common.security.scram.ScramLoginModule required;'
    local plain='org.apache.kafka.common.security.plain.PlainLoginModule required user_backup="backup-secret" user_restore="restore-secret" user_admin="admin-secret";'
    local props="$dir/server.properties"
    {
      echo "process.roles=broker,controller"
      echo "node.id=1"
      echo "listeners=SASL_PLAINTEXT://127.0.0.1:$sp,SASL_SSL://127.0.0.1:$ssp,SSL://127.0.0.1:$tp,INTERNAL://127.0.0.1:$ip,CONTROLLER://127.0.0.1:$cp"
      echo "advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$sp,SASL_SSL://127.0.0.1:$ssp,SSL://127.0.0.1:$tp,INTERNAL://127.0.0.1:$ip"
      echo "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
      echo "controller.listener.names=CONTROLLER"
      echo "inter.broker.listener.name=INTERNAL"
      echo "controller.quorum.bootstrap.servers=127.0.0.1:$cp"
      echo "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
      echo "listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain"
      echo "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram"
      echo "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram"
      # OAUTHBEARER with Kafka's default (unsecured) validator: accepts unsigned JWTs ("alg":"none")
      # whose "sub" claim is the principal. For tests only.
      echo "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";"
      echo "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512"
      echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram"
      echo "ssl.keystore.type=PKCS12"
      echo "ssl.keystore.location=$certs/broker.p12"
      echo "ssl.keystore.password=$(cat "$certs/broker.p12.pass")"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$certs/ca.pem"
      echo "listener.name.ssl.ssl.client.auth=required"
      echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
      echo "allow.everyone.if.no.acl.found=false"
      # ANONYMOUS: the PLAINTEXT inter-broker and controller listeners
      echo "super.users=User:admin;User:ANONYMOUS"
      echo "offsets.topic.replication.factor=1"
      echo "transaction.state.log.replication.factor=1"
      echo "transaction.state.log.min.isr=1"
      echo "share.coordinator.state.topic.replication.factor=1"
      echo "share.coordinator.state.topic.min.isr=1"
      echo "group.initial.rebalance.delay.ms=0"
      echo "auto.create.topics.enable=false"
      echo "num.partitions=1"
      echo "log.dirs=$dir/data"
      echo "log.segment.bytes=67108864"
      echo "delete.topic.enable=true"
    } >"$props"
    chmod 600 "$props"
    if [ ! -f "$dir/data/meta.properties" ]; then
      local cluster_id_file="$STATE_DIR/kafka-secure.cluster-id"
      [ -f "$cluster_id_file" ] || kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$cluster_id_file"
      local fmt=(format -t "$(cat "$cluster_id_file")" -c "$props" --ignore-formatted --standalone) u m
      for u in backup restore admin; do
        for m in SCRAM-SHA-256 SCRAM-SHA-512; do fmt+=(--add-scram "$m=[name=$u,password=$u-secret]"); done
      done
      kafka_java kafka.tools.StorageTool "${fmt[@]}" >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 1; }
    fi
    setsid nohup java -Xms"${KB_KAFKA_SECURE_HEAP:-512m}" -Xmx"${KB_KAFKA_SECURE_HEAP:-512m}" -XX:+UseG1GC \
      -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -Dlog4j2.level=WARN -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$props" >"$logf" 2>&1 </dev/null &
    echo $! >"$pidf"
  fi
  local p
  for p in "$sp" "$ssp" "$tp" "$ip"; do wait_port 127.0.0.1 "$p" 120 kafka-secure "$logf" || return 1; done
  log "kafka-secure ready in $((SECONDS - t0))s"
  echo "kafka-secure SASL_PLAINTEXT 127.0.0.1:$sp (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)"
  echo "kafka-secure SASL_SSL 127.0.0.1:$ssp (SCRAM-SHA-512)"
  echo "kafka-secure SSL 127.0.0.1:$tp (client certificate required)"
  echo "kafka-secure PLAINTEXT 127.0.0.1:$ip (inter-broker, super user)"
  echo "kafka-secure certificates $certs"
}

kafka_secure_stop() { stop_pidfile "$STATE_DIR/kafka-secure/pid" kafka-secure; }

kafka_secure_status() {
  if pid_alive "$STATE_DIR/kafka-secure/pid"; then
    echo "kafka-secure running SASL_PLAINTEXT 127.0.0.1:${KAFKA_SECURE_PORTS[0]}, SASL_SSL 127.0.0.1:${KAFKA_SECURE_PORTS[1]}, SSL 127.0.0.1:${KAFKA_SECURE_PORTS[2]}"
  else
    echo "kafka-secure stopped"
  fi
}
