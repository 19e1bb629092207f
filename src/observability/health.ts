import type { Metrics } from './metrics.js';

export type Role = 'starting' | 'standby' | 'active' | 'stopped';

export interface HealthOptions {
  /** Not ready once the watermark has not moved for this long while records wait to be read (default 120 s). */
  readonly watermarkStallMs?: number;
  /** Wall clock (tests). */
  readonly now?: () => number;
  /** Canary verdict checks (src/canary/checker.ts): a missed or failed canary makes the active member not ready. */
  readonly canary?: { status(): { readonly problem?: string }; restartClock(): void };
}

export interface Readiness {
  readonly ready: boolean;
  readonly role: Role;
  /** Why not ready, one short phrase each (empty when ready). */
  readonly reasons: readonly string[];
}

/**
 * Liveness and readiness of one monitor process, from what the metrics already say. Ready: the
 * job runs (active, or standing by to take over), ClickHouse accepts writes, the Kafka consumer is
 * not being restarted, and the watermark moves when there is something to read. A standby is ready:
 * it is healthy and waits; `runwatch_active` tells which instance works.
 */
export class Health {
  role: Role = 'starting';
  private lastWatermarkMs: number | undefined;
  private watermarkMovedAt: number;
  private readonly now: () => number;
  private readonly stallMs: number;
  private readonly canary: HealthOptions['canary'];

  constructor(
    private readonly metrics: Metrics,
    options: HealthOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.stallMs = options.watermarkStallMs ?? 120_000;
    this.watermarkMovedAt = this.now();
    this.canary = options.canary;
  }

  setRole(role: Role): void {
    if (role !== this.role) {
      // A new role starts with a clean slate: no stall inherited from an earlier job, no stale lag.
      this.lastWatermarkMs = undefined;
      this.watermarkMovedAt = this.now();
      this.metrics.consumerLag.reset();
      if (role === 'active') this.canary?.restartClock();
    }
    this.role = role;
    this.metrics.active.set(role === 'active' ? 1 : 0);
  }

  async readiness(): Promise<Readiness> {
    const reasons: string[] = [];
    if (this.role === 'starting') reasons.push('starting: tables and group not ready yet');
    if (this.role === 'stopped') reasons.push('stopped');
    if ((await gaugeValue(this.metrics.sinkFailing)) === 1) reasons.push('ClickHouse writes failing (retrying)');
    if ((await gaugeValue(this.metrics.schemaRegistryFailing)) === 1) reasons.push('schema registry unreachable (reading waits, retrying)');
    if ((await gaugeValue(this.metrics.sourceRestarting)) === 1) reasons.push('Kafka consumer restarting (broker unreachable)');
    if (this.role === 'active') {
      const watermark = this.metrics.live.engine?.()?.eventTimeMs;
      const at = this.now();
      if (watermark !== this.lastWatermarkMs) {
        this.lastWatermarkMs = watermark;
        this.watermarkMovedAt = at;
      }
      const lag = (await this.metrics.consumerLag.get()).values.reduce((sum, v) => sum + v.value, 0);
      const canary = this.canary?.status().problem;
      if (canary !== undefined) reasons.push(canary);
      if (lag > 0 && at - this.watermarkMovedAt > this.stallMs) reasons.push(`watermark has not moved for ${Math.round((at - this.watermarkMovedAt) / 1_000)} s with ${lag} records waiting`);
    }
    const ready = reasons.length === 0;
    this.metrics.ready.set(ready ? 1 : 0);
    return { ready, role: this.role, reasons };
  }
}

async function gaugeValue(gauge: { get(): Promise<{ values: ReadonlyArray<{ value: number }> }> }): Promise<number> {
  return (await gauge.get()).values[0]?.value ?? 0;
}
