package kbpeers;

import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Prints every record of the given topics as JSON lines, in topic, partition, offset order.
 *
 *   RecordDump --bootstrap B --topic T [--topic T2 ...] [--isolation read_committed|read_uncommitted]
 *              [--partition P ...] [--timeout-ms 60000]
 *
 * Uses assign() (no group) and reads every partition from its log start up to the end offset
 * taken when it starts: with read_committed that is the last stable offset, so aborted records
 * and transaction markers never appear. A summary line goes to stderr.
 */
public final class RecordDump {
  public static void main(String[] argv) {
    System.exit(run(argv));
  }

  static int run(String[] argv) {
    try {
      Peer.Args args = new Peer.Args(argv);
      String bootstrap = args.required("bootstrap");
      List<String> topics = args.all("topic");
      if (topics.isEmpty()) throw new IllegalArgumentException("missing --topic");
      String isolation = args.get("isolation", "read_committed");
      if (!isolation.equals("read_committed") && !isolation.equals("read_uncommitted"))
        throw new IllegalArgumentException("--isolation must be read_committed or read_uncommitted");
      Set<Integer> onlyPartitions = new HashSet<>();
      for (String p : args.all("partition")) onlyPartitions.add(Integer.parseInt(p));
      long deadline = System.currentTimeMillis() + args.getLong("timeout-ms", 60_000);

      Properties props = new Properties();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      props.put(ConsumerConfig.CLIENT_ID_CONFIG, "kb-peer-record-dump");
      props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

      Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> byPartition = new HashMap<>();
      List<TopicPartition> order = new ArrayList<>();
      try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
        for (String topic : topics) {
          List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
          if (infos == null || infos.isEmpty()) throw new IllegalStateException("topic " + topic + " not found");
          List<TopicPartition> tps = new ArrayList<>();
          for (PartitionInfo pi : infos)
            if (onlyPartitions.isEmpty() || onlyPartitions.contains(pi.partition()))
              tps.add(new TopicPartition(topic, pi.partition()));
          tps.sort(Comparator.comparingInt(TopicPartition::partition));
          order.addAll(tps);
        }
        consumer.assign(order);
        Map<TopicPartition, Long> ends = consumer.endOffsets(order, Duration.ofSeconds(30));
        consumer.seekToBeginning(order);
        Set<TopicPartition> remaining = new HashSet<>();
        for (TopicPartition tp : order) {
          byPartition.put(tp, new ArrayList<>());
          if (consumer.position(tp, Duration.ofSeconds(30)) < ends.get(tp)) remaining.add(tp);
        }
        consumer.pause(subtract(order, remaining));
        while (!remaining.isEmpty()) {
          if (System.currentTimeMillis() > deadline)
            throw new IllegalStateException("timed out; still reading " + remaining + " ends=" + ends);
          for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            if (r.offset() < ends.get(tp)) byPartition.get(tp).add(r);
          }
          List<TopicPartition> done = new ArrayList<>();
          for (TopicPartition tp : remaining)
            if (consumer.position(tp, Duration.ofSeconds(30)) >= ends.get(tp)) done.add(tp);
          if (!done.isEmpty()) {
            remaining.removeAll(done);
            consumer.pause(done);
          }
        }
      }

      long count = 0;
      BufferedWriter out =
          new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
      for (TopicPartition tp : order) {
        List<ConsumerRecord<byte[], byte[]>> records = byPartition.get(tp);
        records.sort(Comparator.comparingLong(ConsumerRecord::offset));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          out.write(Peer.recordJson(r));
          out.write('\n');
          count++;
        }
      }
      out.flush();
      System.err.println("RecordDump: " + count + " records from " + order.size() + " partitions (" + isolation + ")");
      return 0;
    } catch (Exception e) {
      return Peer.fail("RecordDump", e);
    }
  }

  private static List<TopicPartition> subtract(List<TopicPartition> all, Set<TopicPartition> keep) {
    List<TopicPartition> out = new ArrayList<>();
    for (TopicPartition tp : all) if (!keep.contains(tp)) out.add(tp);
    return out;
  }
}
