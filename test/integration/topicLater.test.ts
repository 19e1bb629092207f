/**
 * A live monitor deployed before its topic exists (a new environment, a topic created by another
 * team's pipeline) waits for it instead of failing, then reads it from the start; SIGTERM while it
 * waits exits 0 at once. The CLI as a process, a real broker; kcat publishes.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { ensureTopic } from '../../src/consumers/topics.js';
import { freshDataPath, startMonitorProcess, waitFor } from '../support/crash-harness.js';

const brokers = inject('kafkaBrokers');

const event = (type: string, runId: string, atMs: number): string =>
  JSON.stringify({ type, run_id: runId, thread_id: `thread_${runId}`, user_id: `user_${runId}`, agent_name: 'planner', timestamp: new Date(atMs).toISOString(), ...(type === 'agent_thinking' ? { reasoning: 'reading' } : {}), ...(type.startsWith('tool_') ? { tool_name: 'search', execution_id: 'x1' } : {}), ...(type === 'tool_completed' ? { result: 'ok' } : {}) });

describe('live monitor started before its topic exists (real broker, the CLI)', () => {
  it('waits for the topic, then reads what is published to it', async () => {
    const topic = `later-${randomUUID()}`;
    const monitor = startMonitorProcess({ brokers, topic, group: `later-${randomUUID()}`, dataPath: await freshDataPath(), database: 'runwatch_later', replay: false, extraArgs: ['--json'] });
    await waitFor('the monitor to say it waits for the topic', () => monitor.logLines.some((l) => l.includes('the topic does not exist yet')), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // at least one more look: still waiting, not failed
    expect(monitor.child.exitCode, monitor.logLines.slice(-5).join('\n')).toBeNull();

    await ensureTopic(brokers, topic, 2);
    const now = Date.now();
    const lines = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'].map((type, i) => event(type, 'run_later', now + i * 50));
    const kcat = spawnSync('kcat', ['-b', brokers.join(','), '-t', topic, '-p', '0', '-P'], { input: `${lines.join('\n')}\n` });
    expect(kcat.status, kcat.stderr.toString()).toBe(0);
    await waitFor('the monitor to join its group', () => monitor.logLines.some((l) => l.includes('Kafka consumer joined its group')), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // read; the counts below say whether all of it
    monitor.child.kill('SIGTERM');
    expect((await monitor.exited).code, monitor.logLines.slice(-5).join('\n')).toBe(0);
    const counts = JSON.parse(monitor.outLines.at(-1) ?? '{}') as { records?: number; lifecycleEvents?: number };
    expect(counts.records).toBe(5);
    expect(counts.lifecycleEvents).toBe(5);
  }, 120_000);

  it('SIGTERM while it waits exits 0 at once', async () => {
    const monitor = startMonitorProcess({ brokers, topic: `never-${randomUUID()}`, group: `never-${randomUUID()}`, dataPath: await freshDataPath(), database: 'runwatch_later', replay: false });
    await waitFor('the monitor to say it waits for the topic', () => monitor.logLines.some((l) => l.includes('the topic does not exist yet')), 60_000);
    const signalledAt = Date.now();
    monitor.child.kill('SIGTERM');
    expect((await monitor.exited).code, monitor.logLines.slice(-5).join('\n')).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
  }, 120_000);
});
