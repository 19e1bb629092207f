import { Partitioners } from 'kafkajs';

/**
 * The partition KafkaJS's default partitioner (murmur2 of the key, as Java clients) gives a keyed
 * record on a topic of `partitions` partitions: what the simulator's publisher uses, so the
 * ground truth can say where each record landed.
 */
export function kafkaPartitionOf(partitions: number): (key: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }));
  return (key) => partitioner({ topic: 'simulated', partitionMetadata, message: { key, value: null } });
}
