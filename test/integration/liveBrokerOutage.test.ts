/**
 * Live monitoring through a broker outage, on a real broker of its own: agents keep emitting while
 * the broker is down (their producer retries), the broker comes back, the backlog arrives. Event
 * time must not move while nothing can be read, so nothing is late, and the live verdicts equal a
 * replay of the same topic. (Before the watermark knew where the consumer stood, wall-clock
 * heartbeats advanced event time through the outage and the whole backlog came in late.)
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectionConfigSchema, kafkaConfigSchema } from '../../src/config/config.js';
import type { RunSummary, Verdict } from '../../src/contract/verdict.js';
import { KafkaSource } from '../../src/consumers/kafka-source.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { runMonitor, type MonitorStats, type VerdictSink } from '../../src/pipeline/monitor.js';
import { startRestartableKafkaForTests, type RestartableKafka } from '../support/kafka-broker.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// CI: a 10 s stop (SIGTERM). scripts/fault-broker-outage.sh runs the same test with a 30 s kill -9.
const outageMs = Number(process.env.RUNWATCH_OUTAGE_MS ?? 10_000);
const killBroker = process.env.RUNWATCH_OUTAGE_KILL === '1';
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
const logger = createLogger(process.env.RUNWATCH_LOG_LEVEL || 'warn');
// Latency rules fire on the backlog (delivered up to ~20 s late): the same in both reads. The
// smallest allowed lateness keeps the wait for the last runs short.
const detection = detectionConfigSchema.parse({ allowedLatenessMs: 2_000 });

/**
 * Agents emitting live: a run starts every 150 ms (its own thread, so runs spread over the
 * partitions), its five events 300 ms apart, each stamped with its planned wall-clock time. A
 * sender publishes what is due in order and, while the broker is down, retries the same batch
 * until it is taken.
 */
class LiveTraffic {
  readonly runIds: string[] = [];
  sendFailures = 0;
  private readonly queue: Message[] = [];
  private readonly planned: Array<{ at: number; message: Message }> = [];
  private generating = true;
  private sender: Promise<void> | undefined;
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly kafka: Kafka, private readonly topic: string) {}

  start(): void {
    // Idempotent: a batch the broker took but could not acknowledge (it went down) is not written twice when sent again.
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 2, initialRetryTime: 100 } });
    let nextRun = 0;
    let nextStart = Date.now() + 100;
    this.ticker = setInterval(() => {
      const now = Date.now();
      while (this.generating && nextStart <= now) this.plan(`run_${nextRun++}`, (nextStart += 150) - 150);
      this.planned.sort((a, b) => a.at - b.at);
      while (this.planned.length > 0 && (this.planned[0]?.at ?? Infinity) <= now) this.queue.push((this.planned.shift() as { message: Message }).message);
    }, 20);
    this.sender = (async () => {
      await producer.connect();
      while (this.generating || this.planned.length > 0 || this.queue.length > 0) {
        const batch = this.queue.splice(0, this.queue.length);
        while (batch.length > 0) {
          try {
            await producer.send({ topic: this.topic, messages: batch });
            break;
          } catch {
            this.sendFailures += 1;
            await sleep(250);
          }
        }
        await sleep(20);
      }
      clearInterval(this.ticker);
      await producer.disconnect();
    })();
  }

  /** Stops starting runs and resolves once every event of the runs started has been published. */
  async finish(): Promise<void> {
    this.generating = false;
    await this.sender;
  }

  private plan(runId: string, startMs: number): void {
    this.runIds.push(runId);
    const thread = `thread_${runId}`;
    const user = `user_${this.runIds.length % 11}`;
    const bodies: Array<Record<string, unknown>> = [
      { type: 'agent_started', run_id: runId, thread_id: thread, user_id: user, agent_name: 'a' },
      { type: 'agent_thinking', run_id: runId, thread_id: thread, user_id: user, reasoning: 'r' },
      { type: 'tool_executing', run_id: runId, thread_id: thread, user_id: user, tool_name: 'search', execution_id: `x_${runId}` },
      { type: 'tool_completed', run_id: runId, thread_id: thread, user_id: user, tool_name: 'search', execution_id: `x_${runId}`, result: 'ok' },
      { type: 'agent_completed', run_id: runId, thread_id: thread, user_id: user, agent_name: 'a', final_response: 'done' },
    ];
    bodies.forEach((body, k) => {
      const at = startMs + k * 300;
      this.planned.push({ at, message: { key: thread, value: JSON.stringify({ ...body, timestamp: iso(at) }) } });
    });
  }
}

function memorySink(): { sink: VerdictSink; verdicts: Verdict[] } {
  const verdicts: Verdict[] = [];
  return { verdicts, sink: { write: async (batch) => void verdicts.push(...batch.verdicts) } };
}

/** A run summary without where in event time it was decided (live heartbeats and a replay's end of input differ there). */
function comparable(summary: RunSummary): Omit<RunSummary, 'decidedAtWatermarkMs'> {
  const { decidedAtWatermarkMs: _decided, ...rest } = summary;
  return rest;
}
const summaries = (verdicts: Verdict[]) => new Map(verdicts.flatMap((v) => (v.kind === 'run_summary' ? [[v.summary.runId, comparable(v.summary)] as const] : [])));
const violations = (verdicts: Verdict[]) => verdicts.flatMap((v) => (v.kind === 'violation' ? [`${v.violation.runId} ${v.violation.rule} ${v.violation.severity} ${v.violation.subject}`] : [])).sort();

describe('live monitoring through a broker outage (real broker)', () => {
  let broker: RestartableKafka;
  beforeAll(async () => {
    broker = await startRestartableKafkaForTests();
  }, 120_000);
  afterAll(async () => {
    await broker?.close();
  });

  it('advances no event time while the broker is down: no late events, and the same run summaries as a replay', async () => {
    const topic = `outage-${randomUUID()}`;
    await ensureTopic(broker.brokers, topic, 3, { keepHistoricalRecords: true });
    const kafka = new Kafka({ clientId: 'runwatch-outage-test', brokers: broker.brokers, logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 100 } });

    const liveSink = memorySink();
    // After the restart the consumer rejoins as a new member: the group waits for the old one's session to expire (6 s, the broker's minimum).
    const liveSource = new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers: broker.brokers, topic, groupId: `live-${randomUUID()}`, clientId: 'runwatch-live' }), logger, mode: 'live', sessionTimeoutMs: 6_000 });
    const live = runMonitor({ source: liveSource, sink: liveSink.sink, detection, sinkConfig: { batchRows: 5_000, flushIntervalMs: 100 }, metrics: createMetrics(), logger, idleHeartbeatMs: 500 });
    const liveDone = live.done.catch((err: unknown) => err);
    const traffic = new LiveTraffic(kafka, topic);
    try {
      traffic.start();
      await sleep(4_000);
      const outageStart = Date.now();
      console.log(`[outage-test] stopping the broker at ${iso(outageStart)}`);
      await broker.stop({ kill: killBroker });
      await sleep(outageMs);
      await broker.start();
      console.log(`[outage-test] broker down for ${Date.now() - outageStart} ms, serving again at ${iso(Date.now())}`);
      await sleep(2_000);
      await traffic.finish();
      expect(traffic.sendFailures).toBeGreaterThan(0); // the outage was real: agents could not publish

      // Every run completes; once the consumer is caught up, idle time judges the last ones.
      const deadline = Date.now() + 30_000 + outageMs;
      while (summaries(liveSink.verdicts).size < traffic.runIds.length && Date.now() < deadline) await sleep(200);
    } finally {
      live.stop();
      await liveSource.close();
    }
    const liveOutcome = await liveDone;
    expect(liveOutcome instanceof Error ? liveOutcome : undefined, 'the live monitor failed').toBeUndefined();

    const replaySink = memorySink();
    const replaySource = new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers: broker.brokers, topic, groupId: `replay-${randomUUID()}`, clientId: 'runwatch-replay' }), logger, mode: 'bounded' });
    let replayStats: MonitorStats;
    try {
      const partitions = await replaySource.boundedPartitions();
      replayStats = await runMonitor({ source: replaySource, sink: replaySink.sink, detection, sinkConfig: { batchRows: 5_000, flushIntervalMs: 100 }, metrics: createMetrics(), logger, partitions }).done;
    } finally {
      await replaySource.close();
    }

    const liveLate = liveSink.verdicts.filter((v) => v.kind === 'late_event');
    if (process.env.OUTAGE_DIAG === '1' && liveLate.length > 0) {
      const first = liveLate[0];
      if (first?.kind === 'late_event') {
        const diag = new KafkaSource({ kafka: kafkaConfigSchema.parse({ brokers: broker.brokers, topic, groupId: `diag-${randomUUID()}` }), logger, mode: 'bounded' });
        const { lastValueFrom, toArray } = await import('rxjs');
        const all = await lastValueFrom(diag.records$().pipe(toArray()));
        await diag.close();
        const around = all
          .filter((r) => r.partition === first.source.partition && Math.abs(r.offset - first.source.offset) <= 60)
          .sort((a, b) => a.offset - b.offset)
          .map((r) => `${r.offset} ${String(JSON.parse(String(r.value))['timestamp']).slice(17, 23)} ts=${new Date(r.timestampMs).toISOString().slice(17, 23)}`);
        console.log(`[outage-test] partition ${first.source.partition} around ${first.source.offset}:\n${around.join('\n')}`);
      }
    }
    const lateSample = liveLate.slice(0, 5).map((v) => (v.kind === 'late_event' ? { event: iso(v.eventTimeMs), watermark: iso(v.watermarkMs), state: v.runState, at: v.source } : {}));
    // The topic holds every event once, in order per partition: a replay finds nothing late.
    expect(replayStats.lifecycleEvents).toBe(traffic.runIds.length * 5);
    expect(replaySink.verdicts.filter((v) => v.kind === 'late_event')).toHaveLength(0);
    expect(liveLate.length, `late events in live mode, e.g. ${JSON.stringify(lateSample)}`).toBe(0);
    const liveSummaries = summaries(liveSink.verdicts);
    const replaySummaries = summaries(replaySink.verdicts);
    expect([...replaySummaries.keys()].sort()).toEqual([...traffic.runIds].sort());
    expect([...liveSummaries.keys()].sort()).toEqual([...replaySummaries.keys()].sort());
    for (const [runId, summary] of replaySummaries) expect(liveSummaries.get(runId), runId).toEqual(summary);
    expect(violations(liveSink.verdicts)).toEqual(violations(replaySink.verdicts));
  }, 90_000 + 3 * outageMs);
});
