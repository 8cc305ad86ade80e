package kbpeers;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * Read-only facts from the broker through Kafka's own Admin client, for checking results.
 *
 *   AdminPeer --bootstrap B offsets --topic T [--topic T2 ...]
 *     one line per partition, in topic (as given) and partition order: {"topic","partition","logStartOffset","highWatermark","lastStableOffset"}
 *   AdminPeer --bootstrap B group-offsets --group G
 *     one line per committed partition, sorted: {"group","topic","partition","offset","metadata","leaderEpoch"}
 */
public final class AdminPeer {
  public static void main(String[] argv) {
    System.exit(run(argv));
  }

  static int run(String[] argv) {
    try {
      if (argv.length < 3) throw new IllegalArgumentException("usage: AdminPeer --bootstrap B offsets|group-offsets ...");
      String command = null;
      List<String> rest = new ArrayList<>();
      for (String a : argv) {
        if (command == null && (a.equals("offsets") || a.equals("group-offsets"))) command = a;
        else rest.add(a);
      }
      if (command == null) throw new IllegalArgumentException("missing command: offsets or group-offsets");
      Peer.Args args = new Peer.Args(rest.toArray(new String[0]));
      Properties props = new Properties();
      props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args.required("bootstrap"));
      props.put(AdminClientConfig.CLIENT_ID_CONFIG, "kb-peer-admin");
      StringBuilder out = new StringBuilder();
      try (Admin admin = Admin.create(props)) {
        if (command.equals("offsets")) {
          List<String> topics = args.all("topic");
          if (topics.isEmpty()) throw new IllegalArgumentException("missing --topic");
          Map<String, TopicDescription> described = admin.describeTopics(topics).allTopicNames().get();
          Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
          Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
          for (String topic : topics)
            for (TopicPartitionInfo p : described.get(topic).partitions()) {
              earliest.put(new TopicPartition(topic, p.partition()), OffsetSpec.earliest());
              latest.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
            }
          var starts = admin.listOffsets(earliest).all().get();
          var hws = admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all().get();
          var lsos = admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get();
          for (String topic : topics) {
            for (int p = 0; p < described.get(topic).partitions().size(); p++) {
              TopicPartition tp = new TopicPartition(topic, p);
              out.append("{\"topic\":");
              Peer.str(out, topic);
              out.append(",\"partition\":").append(p);
              out.append(",\"logStartOffset\":").append(off(starts.get(tp)));
              out.append(",\"highWatermark\":").append(off(hws.get(tp)));
              out.append(",\"lastStableOffset\":").append(off(lsos.get(tp))).append("}\n");
            }
          }
        } else {
          String group = args.required("group");
          Map<TopicPartition, OffsetAndMetadata> offsets =
              admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
          Map<String, Map<Integer, OffsetAndMetadata>> sorted = new TreeMap<>();
          for (var e : offsets.entrySet())
            sorted.computeIfAbsent(e.getKey().topic(), k -> new TreeMap<>()).put(e.getKey().partition(), e.getValue());
          for (var t : sorted.entrySet()) {
            for (var e : t.getValue().entrySet()) {
              OffsetAndMetadata om = e.getValue();
              out.append("{\"group\":");
              Peer.str(out, group);
              out.append(",\"topic\":");
              Peer.str(out, t.getKey());
              out.append(",\"partition\":").append(e.getKey());
              out.append(",\"offset\":").append(om == null ? "null" : String.valueOf(om.offset()));
              out.append(",\"metadata\":");
              Peer.str(out, om == null ? null : om.metadata());
              out.append(",\"leaderEpoch\":")
                  .append(om == null || om.leaderEpoch().isEmpty() ? "null" : String.valueOf(om.leaderEpoch().get()));
              out.append("}\n");
            }
          }
        }
      }
      System.out.print(out);
      System.out.flush();
      return 0;
    } catch (Exception e) {
      return Peer.fail("AdminPeer", e);
    }
  }

  private static long off(ListOffsetsResult.ListOffsetsResultInfo info) {
    return info == null ? -1 : info.offset();
  }
}
