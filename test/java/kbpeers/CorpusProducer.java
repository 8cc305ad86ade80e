package kbpeers;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces test data with Kafka's own producer, with exact control over every record field and
 * over transactions.
 *
 *   CorpusProducer --bootstrap B --topic T --spec FILE|-      one JSON object per line (below)
 *   CorpusProducer --bootstrap B --topic T --scenario NAME [scenario options]
 *
 * Common options: --transactional-id PREFIX (default kb-peer-T-<random>; producer p uses PREFIX-p).
 *
 * Spec lines (JSON, bytes are base64 strings or null):
 *   {"partition":0,"key":"azE=","value":null,"headers":[["h","dg=="],["h",null]],
 *    "timestamp":1700000000000,"txn":null|"commit"|"abort","producer":0}
 *     partition required; key, value, headers, timestamp, txn, producer optional (defaults: null,
 *     null, [], the producer's clock, non-transactional, 0). Records with a txn go through transactional
 *     producer "producer"; its open transaction ends (commit or abort, as its records said) at
 *     {"end":p}, when a record of that producer asks for the other outcome, or at the end of the
 *     spec. Records without a txn go through one idempotent, non-transactional producer.
 *   {"flush":true}   flushes every producer: records between flushes (and between switches of
 *                    producer) become one batch per partition, so offsets of batches are known.
 *   {"end":p}        ends producer p's open transaction.
 *   {"await":"PATH"} flushes every producer (open transactions stay open), creates PATH + ".ready",
 *                    then waits until PATH exists: a test acts on the log meanwhile (e.g. DeleteRecords
 *                    while a transaction is open) and creates PATH to let the spec go on.
 *   Log order of records follows spec order: switching producer flushes the previous one first,
 *   and an end line flushes every producer. Transaction markers are written by the coordinator
 *   after commit/abort returns, so a record another producer sends right after an end line may
 *   land before that marker; only the marker's position relative to its own records is fixed.
 *   Output: one line per record, in spec order: {"index","partition","offset","timestamp"}.
 *
 * Scenarios (output: one JSON summary line):
 *   large-record        [--size 2097152] [--partition 0]: a small record, one large record, a small one.
 *   big-aborted-txn     [--aborted-bytes 22020096] [--record-size 4096]: committed txn (10 per
 *                       partition), an aborted txn holding aborted-bytes of values on partition 0 and
 *                       50 records on every other partition, then another committed txn (10 each).
 *   interleaved-txns    [--rounds 4]: producers A and B each keep a transaction open while their
 *                       records interleave on every partition; even rounds A commits / B aborts, odd
 *                       rounds the reverse; one non-transactional record per partition between
 *                       rounds. Values start with "commit:", "abort:" or "plain:".
 *   compact-until-holes [--keys 20] [--round-ms 300] [--timeout-ms 90000]: for a compacted topic,
 *                       writes every key once per round until a read_uncommitted read from the log
 *                       start shows non-contiguous offsets (the cleaner removed records).
 */
public final class CorpusProducer {
  public static void main(String[] argv) {
    System.exit(run(argv));
  }

  static int run(String[] argv) {
    try {
      Peer.Args args = new Peer.Args(argv);
      String bootstrap = args.required("bootstrap");
      String topic = args.required("topic");
      String txnPrefix =
          args.get("transactional-id", "kb-peer-" + topic + "-" + Long.toHexString(System.nanoTime()));
      CorpusProducer p = new CorpusProducer(bootstrap, topic, txnPrefix);
      try {
        if (args.has("spec")) p.spec(args.get("spec", "-"));
        else {
          String scenario = args.required("scenario");
          switch (scenario) {
            case "large-record" -> p.largeRecord((int) args.getLong("size", 2 * 1024 * 1024), (int) args.getLong("partition", 0));
            case "big-aborted-txn" -> p.bigAbortedTxn(args.getLong("aborted-bytes", 21L * 1024 * 1024), (int) args.getLong("record-size", 4096));
            case "interleaved-txns" -> p.interleavedTxns((int) args.getLong("rounds", 4));
            case "compact-until-holes" -> p.compactUntilHoles(
                (int) args.getLong("keys", 20), args.getLong("round-ms", 300), args.getLong("timeout-ms", 90_000));
            default -> throw new IllegalArgumentException("unknown scenario " + scenario);
          }
        }
      } finally {
        p.close();
      }
      return 0;
    } catch (Exception e) {
      e.printStackTrace();
      return Peer.fail("CorpusProducer", e);
    }
  }

  final String bootstrap;
  final String topic;
  final String txnPrefix;
  KafkaProducer<byte[], byte[]> plain;
  final Map<Integer, KafkaProducer<byte[], byte[]>> txnProducers = new TreeMap<>();
  /** Open transaction per producer: "commit" or "abort". */
  final Map<Integer, String> open = new TreeMap<>();
  final AtomicReference<Exception> sendError = new AtomicReference<>();
  long lingerMs = 1000;
  int batchSize = 1024 * 1024;

  CorpusProducer(String bootstrap, String topic, String txnPrefix) {
    this.bootstrap = bootstrap;
    this.topic = topic;
    this.txnPrefix = txnPrefix;
  }

  Properties producerProps() {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(16 * 1024 * 1024));
    props.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(batchSize));
    props.put(ProducerConfig.LINGER_MS_CONFIG, String.valueOf(lingerMs));
    props.put(ProducerConfig.BUFFER_MEMORY_CONFIG, String.valueOf(64L * 1024 * 1024));
    props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return props;
  }

  KafkaProducer<byte[], byte[]> plain() {
    if (plain == null) {
      Properties props = producerProps();
      props.put(ProducerConfig.CLIENT_ID_CONFIG, "kb-peer-plain");
      plain = new KafkaProducer<>(props);
    }
    return plain;
  }

  KafkaProducer<byte[], byte[]> txn(int p) {
    return txnProducers.computeIfAbsent(p, k -> {
      Properties props = producerProps();
      props.put(ProducerConfig.CLIENT_ID_CONFIG, "kb-peer-txn-" + k);
      props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnPrefix + "-" + k);
      KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(props);
      prod.initTransactions();
      return prod;
    });
  }

  void begin(int p, String outcome) {
    String cur = open.get(p);
    if (outcome.equals(cur)) return;
    if (cur != null) end(p);
    txn(p).beginTransaction();
    open.put(p, outcome);
  }

  void end(int p) {
    String outcome = open.remove(p);
    if (outcome == null) return;
    KafkaProducer<byte[], byte[]> prod = txn(p);
    prod.flush(); // an abort must not drop unsent records: they have to reach the log, then be aborted
    checkSendError();
    if (outcome.equals("commit")) prod.commitTransaction();
    else if (outcome.equals("abort")) prod.abortTransaction();
    else throw new IllegalArgumentException("txn must be commit or abort, got " + outcome);
  }

  void flushAll() {
    if (plain != null) plain.flush();
    for (KafkaProducer<byte[], byte[]> p : txnProducers.values()) p.flush();
    checkSendError();
  }

  void checkSendError() {
    Exception e = sendError.get();
    if (e != null) throw new IllegalStateException("send failed: " + e, e);
  }

  void close() {
    for (KafkaProducer<byte[], byte[]> p : txnProducers.values()) p.close(Duration.ofSeconds(10));
    if (plain != null) plain.close(Duration.ofSeconds(10));
  }

  RecordMetadata[] results;

  void send(KafkaProducer<byte[], byte[]> prod, ProducerRecord<byte[], byte[]> rec, int index) {
    prod.send(rec, (md, err) -> {
      if (err != null) sendError.compareAndSet(null, err);
      else if (index >= 0) results[index] = md;
    });
  }

  // ---- spec mode ----

  @SuppressWarnings("unchecked")
  void spec(String file) throws Exception {
    List<String> lines = new ArrayList<>();
    try (BufferedReader r = file.equals("-")
        ? new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
        : Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8)) {
      for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) lines.add(line);
    }
    List<Map<String, Object>> specs = new ArrayList<>();
    int records = 0;
    for (String line : lines) {
      Map<String, Object> m = (Map<String, Object>) Peer.parseJson(line);
      specs.add(m);
      if (m.containsKey("partition")) records++;
    }
    results = new RecordMetadata[records];
    int index = 0;
    Integer current = null; // -1 = plain producer, p >= 0 = transactional producer p
    for (Map<String, Object> m : specs) {
      if (Boolean.TRUE.equals(m.get("flush"))) {
        flushAll();
        continue;
      }
      if (m.containsKey("await")) {
        flushAll();
        Path go = Path.of((String) m.get("await"));
        Files.writeString(Path.of(go + ".ready"), "");
        long deadline = System.currentTimeMillis() + 600_000;
        while (!Files.exists(go)) {
          if (System.currentTimeMillis() > deadline) throw new IllegalStateException("nobody created " + go);
          Thread.sleep(50);
        }
        continue;
      }
      if (m.containsKey("end")) {
        flushAll(); // records before the end line reach the log before the marker is requested
        end(((Long) m.get("end")).intValue());
        continue;
      }
      if (!m.containsKey("partition")) throw new IllegalArgumentException("spec line without partition: " + m);
      int partition = ((Long) m.get("partition")).intValue();
      byte[] key = Peer.bytesOrNull(m.get("key"));
      byte[] value = Peer.bytesOrNull(m.get("value"));
      Long timestamp = (Long) m.get("timestamp");
      List<RecordHeader> headers = new ArrayList<>();
      Object hs = m.get("headers");
      if (hs != null) {
        for (Object h : (List<Object>) hs) {
          List<Object> pair = (List<Object>) h;
          headers.add(new RecordHeader((String) pair.get(0), Peer.bytesOrNull(pair.get(1))));
        }
      }
      String txn = (String) m.get("txn");
      int who = txn == null ? -1 : ((Long) m.getOrDefault("producer", 0L)).intValue();
      if (current != null && current != who) {
        if (current == -1) plain().flush();
        else txn(current).flush();
        checkSendError();
      }
      current = who;
      KafkaProducer<byte[], byte[]> prod;
      if (txn == null) prod = plain();
      else {
        begin(who, txn);
        prod = txn(who);
      }
      send(prod, new ProducerRecord<>(topic, partition, timestamp, key, value, new ArrayList<>(headers)), index++);
    }
    flushAll();
    for (Integer p : new ArrayList<>(open.keySet())) end(p);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < results.length; i++) {
      RecordMetadata md = results[i];
      if (md == null) throw new IllegalStateException("no result for record " + i);
      sb.append("{\"index\":").append(i).append(",\"partition\":").append(md.partition())
          .append(",\"offset\":").append(md.offset()).append(",\"timestamp\":").append(md.timestamp()).append("}\n");
    }
    System.out.print(sb);
    System.out.flush();
  }

  // ---- scenarios ----

  int partitionCount() {
    List<PartitionInfo> infos = plain().partitionsFor(topic);
    if (infos.isEmpty()) throw new IllegalStateException("topic " + topic + " has no partitions");
    return infos.size();
  }

  static byte[] pattern(int size, int seed) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) b[i] = (byte) ((i * 31 + seed * 17 + (i >>> 8)) & 0xff);
    return b;
  }

  static byte[] b(String s) {
    return Peer.utf8(s);
  }

  void largeRecord(int size, int partition) throws Exception {
    results = new RecordMetadata[3];
    byte[] large = pattern(size, 7);
    send(plain(), new ProducerRecord<>(topic, partition, b("before"), b("small before")), 0);
    send(plain(), new ProducerRecord<>(topic, partition, b("large"), large), 1);
    send(plain(), new ProducerRecord<>(topic, partition, b("after"), b("small after")), 2);
    flushAll();
    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(large));
    System.out.println("{\"scenario\":\"large-record\",\"partition\":" + partition + ",\"records\":3,\"largeSize\":" + size
        + ",\"largeSha256\":\"" + sha + "\",\"largeOffset\":" + results[1].offset() + ",\"committedPerPartition\":"
        + perPartition(partitionCount(), partition, 3) + "}");
  }

  static String perPartition(int n, int partition, int count) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : ",").append(i == partition ? count : 0);
    return sb.append(']').toString();
  }

  static String array(long[] a) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < a.length; i++) sb.append(i == 0 ? "" : ",").append(a[i]);
    return sb.append(']').toString();
  }

  void bigAbortedTxn(long abortedBytes, int recordSize) {
    batchSize = 512 * 1024;
    lingerMs = 5;
    int n = partitionCount();
    long[] committed = new long[n];
    long[] aborted = new long[n];
    KafkaProducer<byte[], byte[]> t = txn(0);
    t.beginTransaction();
    for (int p = 0; p < n; p++)
      for (int i = 0; i < 10; i++, committed[p]++)
        send(t, new ProducerRecord<>(topic, p, b("c1-" + p + "-" + i), b("commit:first-" + p + "-" + i)), -1);
    t.commitTransaction();
    t.beginTransaction();
    long bytes = 0;
    int i = 0;
    for (; bytes < abortedBytes; i++, aborted[0]++) {
      byte[] v = pattern(recordSize, i);
      v[0] = 'a';
      bytes += v.length;
      send(t, new ProducerRecord<>(topic, 0, b("a-0-" + i), v), -1);
    }
    for (int p = 1; p < n; p++)
      for (int j = 0; j < 50; j++, aborted[p]++)
        send(t, new ProducerRecord<>(topic, p, b("a-" + p + "-" + j), b("abort:" + p + "-" + j)), -1);
    t.flush();
    checkSendError();
    t.abortTransaction();
    t.beginTransaction();
    for (int p = 0; p < n; p++)
      for (int j = 0; j < 10; j++, committed[p]++)
        send(t, new ProducerRecord<>(topic, p, b("c2-" + p + "-" + j), b("commit:second-" + p + "-" + j)), -1);
    t.commitTransaction();
    checkSendError();
    System.out.println("{\"scenario\":\"big-aborted-txn\",\"committedPerPartition\":" + array(committed)
        + ",\"abortedPerPartition\":" + array(aborted) + ",\"abortedBytesPartition0\":" + bytes + "}");
  }

  void interleavedTxns(int rounds) {
    lingerMs = 0;
    int n = partitionCount();
    long[] committed = new long[n];
    long[] aborted = new long[n];
    KafkaProducer<byte[], byte[]> a = txn(0);
    KafkaProducer<byte[], byte[]> bp = txn(1);
    for (int r = 0; r < rounds; r++) {
      boolean aCommits = r % 2 == 0;
      a.beginTransaction();
      bp.beginTransaction();
      for (int i = 0; i < 5; i++) {
        for (int who = 0; who < 2; who++) {
          KafkaProducer<byte[], byte[]> prod = who == 0 ? a : bp;
          boolean commits = (who == 0) == aCommits;
          for (int p = 0; p < n; p++) {
            String v = (commits ? "commit:" : "abort:") + "r" + r + "-" + (who == 0 ? "A" : "B") + "-p" + p + "-" + i;
            send(prod, new ProducerRecord<>(topic, p, b("r" + r + "-" + who + "-" + i), b(v)), -1);
            if (commits) committed[p]++;
            else aborted[p]++;
          }
          prod.flush(); // interleave A's and B's batches in the log
        }
      }
      checkSendError();
      if (aCommits) {
        a.commitTransaction();
        bp.abortTransaction();
      } else {
        bp.commitTransaction();
        a.abortTransaction();
      }
      for (int p = 0; p < n; p++) {
        send(plain(), new ProducerRecord<>(topic, p, b("plain-" + r + "-" + p), b("plain:r" + r + "-p" + p)), -1);
        committed[p]++;
      }
      plain().flush();
      checkSendError();
    }
    System.out.println("{\"scenario\":\"interleaved-txns\",\"committedPerPartition\":" + array(committed)
        + ",\"abortedPerPartition\":" + array(aborted) + "}");
  }

  void compactUntilHoles(int keys, long roundMs, long timeoutMs) throws Exception {
    lingerMs = 0;
    int n = partitionCount();
    long deadline = System.currentTimeMillis() + timeoutMs;
    Map<String, String> latest = new LinkedHashMap<>();
    Properties cprops = new Properties();
    cprops.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    cprops.put(ConsumerConfig.CLIENT_ID_CONFIG, "kb-peer-compaction-check");
    cprops.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    cprops.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cprops.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    cprops.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    long produced = 0;
    int round = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cprops)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < n; p++) tps.add(new TopicPartition(topic, p));
      consumer.assign(tps);
      while (true) {
        for (int k = 0; k < keys; k++) {
          String key = "k" + k;
          String value = "round-" + round + "-" + key;
          latest.put(key, value);
          send(plain(), new ProducerRecord<>(topic, k % n, b(key), b(value)), -1);
          produced++;
        }
        plain().flush();
        checkSendError();
        round++;
        String hole = findHole(consumer, tps);
        if (hole != null) {
          StringBuilder sb = new StringBuilder("{\"scenario\":\"compact-until-holes\",\"rounds\":" + round
              + ",\"produced\":" + produced + ",\"hole\":");
          Peer.str(sb, hole);
          sb.append(",\"latest\":{");
          boolean first = true;
          for (Map.Entry<String, String> e : latest.entrySet()) {
            if (!first) sb.append(',');
            first = false;
            Peer.str(sb, e.getKey());
            sb.append(':');
            Peer.str(sb, e.getValue());
          }
          System.out.println(sb.append("}}"));
          return;
        }
        if (System.currentTimeMillis() > deadline)
          throw new IllegalStateException("no compaction holes after " + round + " rounds");
        Thread.sleep(roundMs);
      }
    }
  }

  /** Reads every partition from its log start; describes the first gap in offsets, or null. */
  static String findHole(KafkaConsumer<byte[], byte[]> consumer, List<TopicPartition> tps) {
    Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
    Map<TopicPartition, Long> starts = consumer.beginningOffsets(tps);
    consumer.seekToBeginning(tps);
    Map<TopicPartition, Long> expect = new LinkedHashMap<>(starts);
    String hole = null;
    long deadline = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < deadline) {
      boolean done = true;
      for (TopicPartition tp : tps) if (consumer.position(tp) < ends.get(tp)) done = false;
      if (done) break;
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (r.offset() != expect.get(tp) && hole == null)
          hole = tp + ": expected offset " + expect.get(tp) + ", next record is at " + r.offset();
        expect.put(tp, r.offset() + 1);
      }
    }
    return hole;
  }
}
