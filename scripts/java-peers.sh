#!/usr/bin/env bash
# Compiles the Java test peers (test/java/**.java: RecordDump, CorpusProducer, GroupConsumer,
# AdminPeer) against the cached Kafka jars and prints the class path to run them with:
#
#   CP=$(bash scripts/java-peers.sh) && java -cp "$CP" kbpeers.RecordDump --bootstrap 127.0.0.1:19092 --topic t
#
# The peers use only kafka-clients and its runtime dependencies (compression codecs, slf4j), so
# they are independent of our code and of @platformatic/kafka. Classes go to
# .cache/java-peers/<hash of the sources>/, so checkouts sharing KB_CACHE_DIR (worktrees, branches
# with other peers) never run each other's classes; javac runs only when that folder has no
# build yet. Safe to run concurrently (flock).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR="${KB_CACHE_DIR:-$ROOT/.cache}"
LIBS="$CACHE_DIR/kafka-${KB_KAFKA_VERSION:-4.1.1}/libs"
SRC="$ROOT/test/java"
sources_hash=$(cd "$SRC" && find . -name '*.java' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
OUT="$CACHE_DIR/java-peers/$sources_hash"
[ -f "$LIBS/.complete" ] || { echo "Kafka jars missing: run 'bash scripts/services.sh start kafka' first" >&2; exit 1; }

cp=""
for prefix in kafka-clients- lz4-java- snappy-java- zstd-jni- slf4j-api- slf4j-simple-; do
  jar=$(find "$LIBS" -maxdepth 1 -name "${prefix}[0-9]*.jar" | sort | tail -n 1)
  [ -n "$jar" ] || { echo "no ${prefix}*.jar in $LIBS" >&2; exit 1; }
  cp="$cp:$jar"
done
cp="${cp#:}"

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
stamp="$OUT/.stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$cp" ]; then
  rm -rf "$OUT/classes.new"
  mkdir -p "$OUT/classes.new"
  find "$SRC" -name '*.java' -print0 | xargs -0 javac -nowarn -encoding UTF-8 --release 17 -cp "$cp" -d "$OUT/classes.new" >&2
  rm -rf "$OUT/classes"
  mv "$OUT/classes.new" "$OUT/classes"
  echo "$cp" >"$stamp"
  echo "java-peers: compiled $(find "$SRC" -name '*.java' | wc -l) sources into $OUT/classes" >&2
fi
echo "$OUT/classes:$cp"
