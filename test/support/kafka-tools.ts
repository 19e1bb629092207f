/**
 * Kafka's own command-line tools, from the broker's jars (infra/kafka/fetch.sh): a third-party
 * client of the broker for what a test does as an operator would, e.g. resetting a group's offsets.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureKafkaJars, javaBinary } from '../../src/infra/broker-config.js';

const run = promisify(execFile);

/** kafka-consumer-groups.sh --reset-offsets --to-offset: sets one partition's committed offset (the group must have no members). */
export async function resetGroupOffset(brokers: readonly string[], group: string, topic: string, partition: number, offset: number): Promise<string> {
  const jars = await ensureKafkaJars();
  const java = await javaBinary();
  const { stdout } = await run(
    java,
    ['-cp', join(jars, '*'), 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', brokers.join(','), '--group', group, '--topic', `${topic}:${partition}`, '--reset-offsets', '--to-offset', String(offset), '--execute'],
    { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
  );
  return stdout;
}

/** kafka-consumer-groups.sh --describe --offsets: the group's committed offset per partition of `topic`. */
export async function describeGroupOffsets(brokers: readonly string[], group: string, topic: string): Promise<Map<number, number>> {
  const jars = await ensureKafkaJars();
  const java = await javaBinary();
  const { stdout } = await run(
    java,
    ['-cp', join(jars, '*'), 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', brokers.join(','), '--group', group, '--describe', '--offsets'],
    { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
  );
  // Columns: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
  const offsets = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    const [, lineTopic, partition, current] = line.trim().split(/\s+/);
    if (lineTopic === topic && partition !== undefined && current !== undefined && /^\d+$/.test(current)) offsets.set(Number(partition), Number(current));
  }
  return offsets;
}
