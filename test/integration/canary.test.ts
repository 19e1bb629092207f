/**
 * Canary end to end, live: `runwatch canary` (a process) publishes canary runs into the topic a
 * live monitor (a process) reads. The monitor checks each canary's stored verdicts: passed ones
 * count, a canary whose stored verdicts are not its plan's fails readiness, and so does a canary
 * that does not come (missed). Canary rows are stored, and left out of user grades and reports.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { canaryRun } from '../../src/canary/plans.js';
import { ensureTopic } from '../../src/consumers/topics.js';
import { projectRoot } from '../../src/infra/broker-config.js';
import { dumpTables, freshDataPath, startMonitorProcess } from '../support/crash-harness.js';
import { freePort, get, waitFor } from '../support/http-probe.js';

const brokers = inject('kafkaBrokers');
const ROOT = projectRoot();
const MAX_AGE_MS = 15_000;

/** The value of one sample of Prometheus text, by metric name and label subset. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (match?.[1] !== name) continue;
    const got = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return undefined;
}

function runCanary(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'canary', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}

const readiness = z.object({ ready: z.boolean(), role: z.string(), reasons: z.array(z.string()) });

describe('canary: monitoring the monitor (live, real broker)', () => {
  it('passes published canaries, fails readiness on a canary with other verdicts and on a missed one; canaries stay out of grades and reports', async () => {
    const topic = `canary-${randomUUID()}`;
    await ensureTopic(brokers, topic, 2, { keepHistoricalRecords: true });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dataPath = await freshDataPath();
    const monitor = startMonitorProcess({
      brokers,
      topic,
      group: `canary-${randomUUID()}`,
      dataPath,
      database: 'runwatch_canary',
      replay: false,
      checkpointIntervalMs: 1_000,
      // The default idle heartbeat (2 s): the late_delivery canary leaves its partition silent for
      // 2.5 s, and a loaded machine delays the canary's sends; event time must not overtake them.
      extraArgs: ['--http-port', String(port), '--http-host', '127.0.0.1', '--canary-max-age-ms', String(MAX_AGE_MS), '--flush-interval-ms', '100'],
    });
    const metrics = async (): Promise<string> => (await get(`${base}/metrics`)).text;
    const passed = async (plan: string): Promise<number> => sample(await metrics(), 'runwatch_canary_runs_total', { plan, outcome: 'passed' }) ?? 0;
    try {
      await waitFor('the monitor to be active', async () => ((await get(`${base}/readyz`)).status === 200 ? true : undefined));

      // Three canaries, one of each plan, from the canary command.
      const published = await runCanary(['--brokers', brokers.join(','), '--topic', topic, '--count', '3', '--interval-ms', '1000']);
      expect(published.code, published.err).toBe(0);
      expect(JSON.parse(published.out.trim())).toEqual({ published: 3 });
      // Generous: under a loaded CI machine event time advances only as fast as the broker answers.
      await waitFor('three canaries to pass', async () => ((await passed('clean')) === 1 && (await passed('late_delivery')) === 1 && (await passed('bad_content')) === 1 ? true : undefined), 150_000).catch(async (err: unknown) => {
        const canaryLines = (await metrics()).split('\n').filter((l) => /^runwatch_(canary|late_events|watermark_lag|records_consumed)/.test(l));
        // The source's own account of where it stands (caught up or not, broker answers) says why event time waits.
        const sourceLines = monitor.logLines.filter((l) => /Kafka source|"level":[45]0/.test(l)).slice(-20);
        throw new Error(`${String(err)}\n${canaryLines.join('\n')}\n${sourceLines.join('\n')}\n${monitor.logLines.slice(-5).join('\n')}`);
      });
      const text = await metrics();
      expect(sample(text, 'runwatch_canary_runs_total', { outcome: 'failed' })).toBe(0);
      expect(sample(text, 'runwatch_canary_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1_000 - 60);
      expect(sample(text, 'runwatch_canary_verdict_seconds_count')).toBe(3);
      expect(readiness.parse(JSON.parse((await get(`${base}/readyz`)).text))).toEqual({ ready: true, role: 'active', reasons: [] });

      // A "clean" canary whose agent_thinking lost its reasoning: the monitor stores a
      // content_invalid violation for it, which is not what the plan expects.
      const tampered = canaryRun('clean', Date.now(), 'tampered', 1).records.map((r) => (r.value.includes('"agent_thinking"') ? { ...r, value: r.value.replace(/"reasoning":"[^"]*"/, '"reasoning":""') } : r));
      const producer = new Kafka({ clientId: 'canary-test', brokers: [...brokers], logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: tampered.map((r) => ({ key: r.key, value: r.value, timestamp: String(r.timestampMs) })) });
      await producer.disconnect();
      const failed = await waitFor('readiness to fail on the failed canary', async () => {
        const res = await get(`${base}/readyz`);
        return res.status === 503 ? readiness.parse(JSON.parse(res.text)) : undefined;
      }, 150_000);
      expect(failed.reasons.join(' ')).toMatch(/canary runwatch-canary-clean-tampered-1 failed: expected \[\], stored \["content_invalid"\]/);
      expect(sample(await metrics(), 'runwatch_canary_runs_total', { plan: 'clean', outcome: 'failed' })).toBe(1);

      // The next canary that passes makes it ready again.
      const again = await runCanary(['--brokers', brokers.join(','), '--topic', topic, '--count', '1', '--plans', 'clean']);
      expect(again.code, again.err).toBe(0);
      await waitFor('ready again after a passing canary', async () => ((await get(`${base}/readyz`)).status === 200 ? true : undefined), 150_000);

      // No canary for longer than the maximum age: missed.
      const missed = await waitFor('readiness to fail on a missed canary', async () => {
        const res = await get(`${base}/readyz`);
        return res.status === 503 ? readiness.parse(JSON.parse(res.text)) : undefined;
      }, MAX_AGE_MS + 30_000);
      expect(missed.reasons.join(' ')).toMatch(/canary missed: none passed for \d+ s \(allowed 15 s\)/);
      expect(sample(await metrics(), 'runwatch_canary_missed')).toBe(1);

      monitor.child.kill('SIGTERM');
      expect((await monitor.exited).code).toBe(0);
    } finally {
      monitor.child.kill('SIGKILL');
    }

    // Stored: the canaries' violations are there (that is what was checked) ...
    const dump = await dumpTables(dataPath, 'runwatch_canary');
    const rules = (dump['violations'] ?? []).map((row) => z.object({ rule: z.string(), run_id: z.string() }).passthrough().parse(JSON.parse(row)));
    expect(rules.every((r) => r.run_id.startsWith('runwatch-canary-'))).toBe(true);
    expect(rules.map((r) => r.rule).sort()).toEqual(['content_invalid', 'content_invalid', 'delivery_latency']);
    expect(dump['run_summaries']).toHaveLength(5);
    // ... but no user grade, and the summary report counts none of them.
    expect(dump['user_grades']).toEqual([]);
    const summary = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'summary', '--json', '--clickhouse-path', dataPath, '--database', 'runwatch_canary'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    summary.stdout.on('data', (c: Buffer) => (out += c.toString()));
    expect(await new Promise((resolve) => summary.once('exit', resolve))).toBe(0);
    const report = z.object({ runsChecked: z.number(), violationsByRule: z.array(z.unknown()) }).passthrough().parse(JSON.parse(out));
    expect(report.runsChecked).toBe(0);
    expect(report.violationsByRule).toEqual([]);
  }, 600_000);
});
