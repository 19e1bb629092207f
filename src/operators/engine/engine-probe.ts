/** What the run engine can tell an observer: read at scrape time (metrics, readiness), never per event. */
export interface EngineReading {
  readonly openRuns: number;
  /** Where the engine stands on the event-time line (its watermark), ms since epoch; -Infinity before the first event. */
  readonly eventTimeMs: number;
}

/** Handed to the engine, which attaches a reader of its own state once subscribed (pure: no I/O, no clock). */
export class EngineProbe {
  private reader: (() => EngineReading) | undefined;

  attach(reader: () => EngineReading): void {
    this.reader = reader;
  }

  read(): EngineReading | undefined {
    return this.reader?.();
  }
}
