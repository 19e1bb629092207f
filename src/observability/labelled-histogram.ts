import type { Registry } from 'prom-client';

/** One label value's series: counts per bucket (not cumulative), their sum and count. */
export interface HistogramSeries {
  observe(value: number): void;
}

interface SeriesState extends HistogramSeries {
  readonly labelValue: string;
  readonly bucketCounts: Float64Array;
  sum: number;
  count: number;
}

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
  /** Buckets carry prom-client's empty exemplar, so that the JSON form matches too. */
  readonly exemplar?: null;
}

/**
 * A Prometheus histogram with one label, for the hot path: observed once per lifecycle event.
 * prom-client's Histogram validates and hashes its labels on every observation (2.5 % of a replay's
 * main thread); here a caller resolves a label value's series once and each observation is a bucket
 * search and three additions. It is scraped through the same registry and reads exactly as
 * prom-client's own histogram would (test/unit/observability/hotPathMetrics.test.ts).
 */
export class LabelledHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, SeriesState>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    // The registry takes any object with prom-client's metric shape (name, help, type, get).
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of one label value; hold it to observe many values without a lookup. */
  labels(labelValue: string): HistogramSeries {
    const known = this.series.get(labelValue);
    if (known !== undefined) return known;
    const bounds = this.upperBounds;
    const created: SeriesState = {
      labelValue,
      bucketCounts: new Float64Array(bounds.length),
      sum: 0,
      count: 0,
      observe(value: number): void {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        // Above the last bound a value counts in +Inf only (the count), as in prom-client.
        for (let i = 0; i < bounds.length; i++) {
          if (value <= (bounds[i] as number)) {
            created.bucketCounts[i] = (created.bucketCounts[i] as number) + 1;
            break;
          }
        }
        created.sum += value;
        created.count += 1;
      },
    };
    this.series.set(labelValue, created);
    return created;
  }

  observe(labelValue: string, value: number): void {
    this.labels(labelValue).observe(value);
  }

  /** The exposition's values, labels as prom-client's registry formats them (`le` first). */
  getForPromString(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const s of this.series.values()) {
      const shared = { [this.labelName]: s.labelValue };
      let cumulative = 0;
      this.upperBounds.forEach((bound, i) => {
        cumulative += s.bucketCounts[i] as number;
        values.push({ labels: { le: bound }, sharedLabels: shared, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same values with every label in `labels` (prom-client's JSON form). */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] } {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }

  /** Zeroes every series; the series stay (callers may hold them). */
  reset(): void {
    for (const s of this.series.values()) {
      s.bucketCounts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
