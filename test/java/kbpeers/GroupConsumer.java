package kbpeers;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Joins consumer group G on topic(s) T, processes exactly N records, commits (commitSync) the
 * offset after the last processed record of every partition it processed, prints the processed
 * records as JSON lines (RecordDump's format, in processing order) and leaves the group.
 *
 *   GroupConsumer --bootstrap B --group G --topic T [--topic T2] --count N
 *                 [--isolation read_committed|read_uncommitted] [--protocol classic|consumer]
 *                 [--reset earliest|latest] [--timeout-ms 60000]
 *
 * Auto-commit is off. Records fetched beyond N are neither printed nor committed. If fewer than N
 * records arrive before the timeout, what was processed is committed and printed, and it exits 3.
 */
public final class GroupConsumer {
  public static void main(String[] argv) {
    System.exit(run(argv));
  }

  static int run(String[] argv) {
    try {
      Peer.Args args = new Peer.Args(argv);
      List<String> topics = args.all("topic");
      if (topics.isEmpty()) throw new IllegalArgumentException("missing --topic");
      long count = Long.parseLong(args.required("count"));
      long deadline = System.currentTimeMillis() + args.getLong("timeout-ms", 60_000);
      Properties props = new Properties();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args.required("bootstrap"));
      props.put(ConsumerConfig.GROUP_ID_CONFIG, args.required("group"));
      props.put(ConsumerConfig.CLIENT_ID_CONFIG, "kb-peer-group-consumer");
      props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, args.get("protocol", "classic"));
      props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, args.get("isolation", "read_committed"));
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, args.get("reset", "earliest"));
      props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(Math.max(1, Math.min(count, 500))));
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

      List<ConsumerRecord<byte[], byte[]>> processed = new ArrayList<>();
      Map<TopicPartition, OffsetAndMetadata> commits = new HashMap<>();
      boolean complete;
      try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
        consumer.subscribe(topics);
        outer:
        while (processed.size() < count) {
          if (System.currentTimeMillis() > deadline) break;
          for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            if (processed.size() >= count) break outer;
            processed.add(r);
            commits.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
          }
        }
        complete = processed.size() >= count;
        if (!commits.isEmpty()) consumer.commitSync(commits, Duration.ofSeconds(30));
      }
      StringBuilder sb = new StringBuilder();
      for (ConsumerRecord<byte[], byte[]> r : processed) sb.append(Peer.recordJson(r)).append('\n');
      System.out.print(sb);
      System.out.flush();
      if (!complete) {
        System.err.println("GroupConsumer: timed out after " + processed.size() + " of " + count + " records");
        return 3;
      }
      return 0;
    } catch (Exception e) {
      return Peer.fail("GroupConsumer", e);
    }
  }
}
