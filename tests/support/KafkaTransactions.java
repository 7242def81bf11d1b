// An independent check that a Kafka broker's transactions work, with the
// Kafka Java client: on a new topic, two committed transactions around an
// aborted one; a read_committed consumer must see exactly the committed
// records and a read_uncommitted one the aborted record too.
//
//   java -cp "$RTDW_KAFKA_LIBS/*" KafkaTransactions.java BOOTSTRAP TOPIC
//
// Prints what each consumer read; exits 1 when a check fails.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaTransactions {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    Properties common = new Properties();
    common.put("bootstrap.servers", bootstrap);

    try (Admin admin = Admin.create(common)) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
    }

    Properties producerProps = new Properties();
    producerProps.putAll(common);
    producerProps.put("transactional.id", topic + "-producer");
    producerProps.put("key.serializer", StringSerializer.class.getName());
    producerProps.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
      producer.initTransactions();
      send(producer, topic, List.of("committed-1", "committed-2"));
      producer.commitTransaction();
      send(producer, topic, List.of("aborted-1"));
      producer.flush();
      producer.abortTransaction();
      send(producer, topic, List.of("committed-3"));
      producer.commitTransaction();
    }

    List<String> committed = consume(common, topic, "read_committed");
    List<String> uncommitted = consume(common, topic, "read_uncommitted");
    System.out.println("read_committed: " + committed);
    System.out.println("read_uncommitted: " + uncommitted);
    boolean ok =
        committed.equals(List.of("committed-1", "committed-2", "committed-3"))
            && uncommitted.equals(List.of("committed-1", "committed-2", "aborted-1", "committed-3"));
    if (!ok) {
      System.out.println("FAILED: read_committed must skip exactly the aborted record");
      System.exit(1);
    }
    System.out.println("OK");
  }

  static void send(KafkaProducer<String, String> producer, String topic, List<String> values) {
    producer.beginTransaction();
    for (String value : values) {
      producer.send(new ProducerRecord<>(topic, value, value));
    }
  }

  /** Every record value of the topic's only partition up to its end, at `isolation`. */
  static List<String> consume(Properties common, String topic, String isolation) {
    Properties props = new Properties();
    props.putAll(common);
    props.put("isolation.level", isolation);
    props.put("enable.auto.commit", "false");
    props.put("key.deserializer", StringDeserializer.class.getName());
    props.put("value.deserializer", StringDeserializer.class.getName());
    List<String> values = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
      TopicPartition partition = new TopicPartition(topic, 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      // The end at this isolation level: the last stable offset for read_committed.
      Map<TopicPartition, Long> ends = consumer.endOffsets(List.of(partition));
      long end = ends.get(partition);
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (consumer.position(partition) < end) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              isolation + " consumer stuck at " + consumer.position(partition) + " of " + end);
        }
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
          values.add(record.value());
        }
      }
    }
    return values;
  }
}
