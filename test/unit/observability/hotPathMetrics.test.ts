/**
 * The per-event metrics are tallied cheaply and read at scrape time. A scrape must read exactly what
 * prom-client's own per-event counting would: checked against prom-client's Histogram and Counter
 * fed the same observations, as Prometheus text and as JSON.
 */
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledHistogram } from '../../../src/observability/labelled-histogram.js';
import { createMetrics } from '../../../src/observability/metrics.js';

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const agent = fc.constantFrom('planner', 'coder', 'a "quoted" agent', 'back\\slash', 'ünïcode', '');
// Values on and around the bounds, and past the last one.
const latency = fc.oneof(fc.constantFrom(0, ...BUCKETS, 30.0001, 1e9), fc.double({ min: 0, max: 100, noNaN: true }));

describe('LabelledHistogram', () => {
  it('reads exactly as prom-client’s Histogram fed the same observations, scraped between them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.tuple(agent, latency), { maxLength: 40 }), { minLength: 1, maxLength: 4 }), async (rounds) => {
        const ours = new Registry();
        const theirs = new Registry();
        const histogram = new LabelledHistogram('h_seconds', 'help text', 'agent', BUCKETS, ours);
        const reference = new Histogram({ name: 'h_seconds', help: 'help text', labelNames: ['agent'], buckets: BUCKETS, registers: [theirs] });
        for (const observations of rounds) {
          for (const [name, value] of observations) {
            histogram.labels(name).observe(value);
            reference.observe({ agent: name }, value);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
          expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a value that is not a number, as prom-client does', () => {
    const histogram = new LabelledHistogram('h_seconds', 'help', 'agent', BUCKETS, new Registry());
    expect(() => histogram.observe('a', Number.NaN)).toThrow(/not a valid number/);
    expect(() => histogram.observe('a', Number.POSITIVE_INFINITY)).toThrow(/not a valid number/);
  });
});

describe('per-record counts of createMetrics', () => {
  it('are exact at every scrape, counted once however often scraped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.tuple(fc.constantFrom('agent_started', 'agent_completed', 'tool_executing'), fc.constantFrom('flat', 'envelope'), fc.option(agent, { nil: undefined }), latency), { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
        async (rounds) => {
          const metrics = createMetrics();
          const theirs = new Registry();
          const records = new Counter({ name: 'runwatch_records_consumed_total', help: 'Kafka records read from the source', registers: [theirs] });
          const lifecycle = new Counter({ name: 'runwatch_lifecycle_events_total', help: 'Normalized lifecycle events, by type and wire shape', labelNames: ['type', 'shape'], registers: [theirs] });
          const latencyReference = new Histogram({ name: 'runwatch_delivery_latency_seconds', help: 'Delivery latency of lifecycle events (delivered minus emitted), by agent', labelNames: ['agent'], buckets: BUCKETS, registers: [theirs] });
          // Series are compared as a set: their order in an exposition carries no meaning (tallied
          // counts reach prom-client grouped by type, not in the order first seen).
          const pick = async (registry: Registry, names: readonly string[]) =>
            (await registry.getMetricsAsJSON()).filter((m) => names.includes(m.name)).map((m) => ({ ...m, values: [...m.values].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))) }));
          const names = ['runwatch_records_consumed_total', 'runwatch_lifecycle_events_total', 'runwatch_delivery_latency_seconds'];
          for (const events of rounds) {
            for (const [type, shape, agentName, value] of events) {
              metrics.countRecord();
              metrics.countLifecycleEvent(type, shape);
              metrics.deliveryLatencyOf(agentName).observe(value);
              records.inc();
              lifecycle.inc({ type, shape });
              latencyReference.observe({ agent: metrics.agentLabel(agentName) }, value);
            }
            const expected = await pick(theirs, names);
            expect(await pick(metrics.registry, names)).toEqual(expected);
            expect(await pick(metrics.registry, names)).toEqual(expected); // a second scrape adds nothing
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('bound the label values taken from agent names', async () => {
    const metrics = createMetrics();
    for (let i = 0; i < 2_000; i++) metrics.deliveryLatencyOf(`agent-${i}`).observe(0.1);
    const series = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'runwatch_delivery_latency_seconds');
    const agents = new Set(series?.values.map((v) => v.labels['agent']));
    expect(agents.size).toBe(51); // 50 names, then "other"
    expect(agents.has('other')).toBe(true);
    const counts = series?.values.filter((v) => 'metricName' in v && v.metricName === 'runwatch_delivery_latency_seconds_count');
    expect(counts?.find((v) => v.labels['agent'] === 'other')?.value).toBe(1_950);
  });
});
