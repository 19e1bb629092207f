/** Shared by the by-hand fault scripts: settings from the environment, and traffic of a given size. */
import { generateTraffic, type Traffic } from '../test/oracle/producers.js';

/** A positive integer from the environment, or the fallback; anything else ends the script with exit 2. */
export function intSetting(script: string, name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`${script}: ${name} must be a positive integer, got ${raw}\n`);
    process.exit(2);
  }
  return value;
}

/** The independent producer model's traffic over three partitions, grown until it holds at least `records` records. */
export function trafficOfAtLeast(records: number, seed: number, users: number): Traffic {
  // ≈ 8.2 records per run in the model's default mix.
  let runs = Math.ceil(records / 8.2);
  let traffic = generateTraffic({ seed, runs, users, partitions: 3, meanRunSpacingMs: 250 });
  while (traffic.records.length < records) {
    runs = Math.ceil((runs * records * 1.01) / traffic.records.length);
    traffic = generateTraffic({ seed, runs, users, partitions: 3, meanRunSpacingMs: 250 });
  }
  return traffic;
}
