import { logLevel, type IHeaders, type Producer } from 'kafkajs';
import { createKafka, type KafkaConnection } from '../consumers/kafka-client.js';
import type { DeadLetter, RecordHeaders } from '../contract/event.js';
import type { Logger } from '../observability/logger.js';

/** Header names of Kafka Connect's dead-letter queue convention (errors.deadletterqueue.context.headers.enable). */
export const CONNECT_ERROR_HEADERS = {
  topic: '__connect.errors.topic',
  partition: '__connect.errors.partition',
  offset: '__connect.errors.offset',
  connector: '__connect.errors.connector.name',
  taskId: '__connect.errors.task.id',
  stage: '__connect.errors.stage',
  exceptionClass: '__connect.errors.exception.class.name',
  exceptionMessage: '__connect.errors.exception.message',
} as const;

/**
 * Dead letters produced to a Kafka topic as Kafka Connect does it, so teams inspect and re-drive
 * them with their usual tools: the original key, value and headers, plus headers naming the
 * source topic, partition and offset and the reason. Written before the batch's results reach
 * ClickHouse; at least once (a restart after a crash re-publishes what followed the last
 * checkpoint: the source headers identify a copy).
 */
export class DeadLetterTopic {
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(
    connection: KafkaConnection,
    private readonly topic: string,
    private readonly logger: Logger,
  ) {
    this.producer = createKafka(connection, { clientId: 'runwatch-dead-letters', logLevel: logLevel.NOTHING, retry: { retries: 8 } }).producer({ idempotent: true, allowAutoTopicCreation: false });
  }

  /** Retried with capped backoff for as long as Kafka refuses (a broker outage pauses the monitor, as a ClickHouse outage does). */
  async publish(deadLetters: readonly DeadLetter[]): Promise<void> {
    const messages = deadLetters.filter((d) => d.original !== undefined).map((d) => ({ key: d.key, value: d.original?.value ?? null, headers: headersOf(d) }));
    if (messages.length === 0) return;
    let lastWarnAt = 0;
    for (let attempt = 1; ; attempt += 1) {
      try {
        this.connected ??= this.producer.connect();
        await this.connected;
        await this.producer.send({ topic: this.topic, acks: -1, messages });
        this.logger.debug({ topic: this.topic, records: messages.length }, 'dead letters published');
        return;
      } catch (err) {
        this.connected = undefined; // connect again next time
        if (Date.now() - lastWarnAt >= 10_000) {
          lastWarnAt = Date.now();
          this.logger.warn({ topic: this.topic, attempt, err: String(err) }, 'publishing dead letters failed; retrying until Kafka takes them');
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 250 * 2 ** Math.min(attempt, 7))));
      }
    }
  }

  async close(): Promise<void> {
    if (this.connected !== undefined) await this.producer.disconnect();
  }
}

function headersOf(d: DeadLetter): IHeaders {
  const headers: IHeaders = { ...copyHeaders(d.original?.headers) };
  headers[CONNECT_ERROR_HEADERS.topic] = d.source.topic;
  headers[CONNECT_ERROR_HEADERS.partition] = String(d.source.partition);
  headers[CONNECT_ERROR_HEADERS.offset] = String(d.source.offset);
  headers[CONNECT_ERROR_HEADERS.connector] = 'runwatch';
  headers[CONNECT_ERROR_HEADERS.taskId] = '0';
  headers[CONNECT_ERROR_HEADERS.stage] = 'VALUE_CONVERTER';
  headers[CONNECT_ERROR_HEADERS.exceptionClass] = 'runwatch.DeadLetter';
  headers[CONNECT_ERROR_HEADERS.exceptionMessage] = d.reason;
  return headers;
}

function copyHeaders(headers: RecordHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = typeof value === 'string' || Buffer.isBuffer(value) ? value : [...value];
  }
  return out;
}
