/** Which build produced a result: the package version and, where known, the git commit. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
}

let cached: BuildInfo | undefined;

/** RUNWATCH_BUILD_COMMIT (set by a packaging step) wins over asking git in the source tree; else "unknown". */
export function buildInfo(): BuildInfo {
  if (cached !== undefined) return cached;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  let version = 'unknown';
  try {
    version = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(`${root}package.json`, 'utf8'))).version;
  } catch {
    // not where the package is expected: leave unknown
  }
  let commit = process.env['RUNWATCH_BUILD_COMMIT'] ?? '';
  if (commit === '') {
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
    } catch {
      commit = 'unknown';
    }
  }
  cached = { version, commit };
  return cached;
}
