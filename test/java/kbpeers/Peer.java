package kbpeers;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * Shared bits of the test peers: argument parsing, a tiny JSON reader and writer, and the
 * one-line JSON form of a consumed record. Only the JDK and kafka-clients are used.
 */
final class Peer {
  private Peer() {}

  /** "--name value" pairs; a name given several times keeps every value in order. */
  static final class Args {
    final Map<String, List<String>> values = new HashMap<>();

    Args(String[] argv) {
      for (int i = 0; i < argv.length; i++) {
        String a = argv[i];
        if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument: " + a);
        String name = a.substring(2);
        String value = "true";
        int eq = name.indexOf('=');
        if (eq >= 0) {
          value = name.substring(eq + 1);
          name = name.substring(0, eq);
        } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
          value = argv[++i];
        }
        values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
      }
    }

    String get(String name, String dflt) {
      List<String> v = values.get(name);
      return v == null ? dflt : v.get(v.size() - 1);
    }

    String required(String name) {
      String v = get(name, null);
      if (v == null) throw new IllegalArgumentException("missing --" + name);
      return v;
    }

    List<String> all(String name) {
      return values.getOrDefault(name, List.of());
    }

    long getLong(String name, long dflt) {
      String v = get(name, null);
      return v == null ? dflt : Long.parseLong(v);
    }

    boolean has(String name) {
      return values.containsKey(name);
    }
  }

  // ---- JSON output ----

  static void str(StringBuilder sb, String s) {
    if (s == null) {
      sb.append("null");
      return;
    }
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          // Everything outside printable ASCII is escaped, so the output is plain ASCII whatever
          // the platform charset is (surrogate pairs become two escapes, as JSON allows).
          if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }

  static void b64(StringBuilder sb, byte[] b) {
    if (b == null) sb.append("null");
    else sb.append('"').append(Base64.getEncoder().encodeToString(b)).append('"');
  }

  /** The record line format shared by RecordDump and GroupConsumer (docs/testing.md). */
  static String recordJson(ConsumerRecord<byte[], byte[]> r) {
    StringBuilder sb = new StringBuilder(64 + (r.value() == null ? 0 : r.value().length * 4 / 3));
    sb.append("{\"topic\":");
    str(sb, r.topic());
    sb.append(",\"partition\":").append(r.partition());
    sb.append(",\"offset\":").append(r.offset());
    sb.append(",\"timestamp\":").append(r.timestamp());
    sb.append(",\"timestampType\":");
    str(sb, switch (r.timestampType()) {
      case CREATE_TIME -> "CreateTime";
      case LOG_APPEND_TIME -> "LogAppendTime";
      default -> "NoTimestampType";
    });
    sb.append(",\"key\":");
    b64(sb, r.key());
    sb.append(",\"value\":");
    b64(sb, r.value());
    sb.append(",\"headers\":[");
    boolean first = true;
    for (Header h : r.headers()) {
      if (!first) sb.append(',');
      first = false;
      sb.append('[');
      str(sb, h.key());
      sb.append(',');
      b64(sb, h.value());
      sb.append(']');
    }
    sb.append("]}");
    return sb.toString();
  }

  // ---- JSON input: objects, arrays, strings, numbers (Long or Double), booleans, null ----

  static Object parseJson(String text) {
    JsonReader r = new JsonReader(text);
    r.ws();
    Object v = r.value();
    r.ws();
    if (r.pos != text.length()) throw r.error("trailing characters");
    return v;
  }

  private static final class JsonReader {
    final String s;
    int pos;

    JsonReader(String s) {
      this.s = s;
    }

    IllegalArgumentException error(String what) {
      return new IllegalArgumentException("JSON: " + what + " at " + pos);
    }

    void ws() {
      while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) pos++;
    }

    void expect(char c) {
      ws();
      if (pos >= s.length() || s.charAt(pos) != c) throw error("expected '" + c + "'");
      pos++;
    }

    Object value() {
      ws();
      if (pos >= s.length()) throw error("unexpected end");
      char c = s.charAt(pos);
      if (c == '{') {
        pos++;
        Map<String, Object> m = new LinkedHashMap<>();
        ws();
        if (s.charAt(pos) == '}') {
          pos++;
          return m;
        }
        while (true) {
          ws();
          String k = string();
          expect(':');
          m.put(k, value());
          ws();
          char d = s.charAt(pos++);
          if (d == '}') return m;
          if (d != ',') throw error("expected ',' or '}'");
        }
      }
      if (c == '[') {
        pos++;
        List<Object> l = new ArrayList<>();
        ws();
        if (s.charAt(pos) == ']') {
          pos++;
          return l;
        }
        while (true) {
          l.add(value());
          ws();
          char d = s.charAt(pos++);
          if (d == ']') return l;
          if (d != ',') throw error("expected ',' or ']'");
        }
      }
      if (c == '"') return string();
      if (s.startsWith("null", pos)) {
        pos += 4;
        return null;
      }
      if (s.startsWith("true", pos)) {
        pos += 4;
        return Boolean.TRUE;
      }
      if (s.startsWith("false", pos)) {
        pos += 5;
        return Boolean.FALSE;
      }
      int start = pos;
      while (pos < s.length() && "+-0123456789.eE".indexOf(s.charAt(pos)) >= 0) pos++;
      if (start == pos) throw error("unexpected character");
      String num = s.substring(start, pos);
      if (num.matches("-?\\d+")) return Long.parseLong(num);
      return Double.parseDouble(num);
    }

    String string() {
      if (s.charAt(pos) != '"') throw error("expected string");
      pos++;
      StringBuilder sb = new StringBuilder();
      while (true) {
        if (pos >= s.length()) throw error("unterminated string");
        char c = s.charAt(pos++);
        if (c == '"') return sb.toString();
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = s.charAt(pos++);
        switch (e) {
          case '"', '\\', '/' -> sb.append(e);
          case 'n' -> sb.append('\n');
          case 'r' -> sb.append('\r');
          case 't' -> sb.append('\t');
          case 'b' -> sb.append('\b');
          case 'f' -> sb.append('\f');
          case 'u' -> {
            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
            pos += 4;
          }
          default -> throw error("bad escape");
        }
      }
    }
  }

  static byte[] bytesOrNull(Object base64) {
    if (base64 == null) return null;
    if (!(base64 instanceof String s)) throw new IllegalArgumentException("expected base64 string or null, got " + base64);
    return Base64.getDecoder().decode(s);
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static int fail(String program, Exception e) {
    System.err.println(program + ": " + e);
    return 1;
  }
}
