/**
 * The bare KafkaJS reader of `npm run bench:e2e`: one consumer (eachBatch), JSON.parse of every
 * value, nothing else, until `expected` records are read. What the same client library can do
 * with none of runwatch's work: the yardstick issue 13's targets are ratios to.
 *
 *   node --import tsx bench/e2e/bare-kafkajs.ts <brokers> <topic> <expected>
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { fixKafkaJsIdleLoop } from '../../src/consumers/kafkajs-idle-fix.js';

const [brokers, topic, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
if (brokers === undefined || topic === undefined || !(expected > 0)) {
  process.stderr.write('usage: bare-kafkajs.ts <brokers> <topic> <expected records>\n');
  process.exit(2);
}
// The library as runwatch runs it: with the fix for its idle timer loop (src/consumers/kafkajs-idle-fix.ts).
fixKafkaJsIdleLoop();
const consumer = new Kafka({ clientId: 'bench-bare', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).consumer({ groupId: `bench-bare-${randomUUID()}` });
let records = 0;
let parsedFields = 0;
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await new Promise<void>((resolve) => {
  void consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        records += 1;
        try {
          const value: unknown = JSON.parse(message.value?.toString('utf8') ?? 'null');
          if (value !== null && typeof value === 'object') parsedFields += 1;
        } catch {
          // malformed records are part of the traffic; a reader still has to try them
        }
      }
      if (records >= expected) resolve();
    },
  });
});
await consumer.disconnect();
process.stdout.write(`${JSON.stringify({ records, parsedObjects: parsedFields })}\n`);
