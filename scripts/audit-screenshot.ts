/**
 * A PNG of an audit report's HTML page (runwatch audit ... --format html --out FILE) as Debian's
 * headless browser draws it, for the docs (docs/images/audit-report.png):
 *
 *   npm run -s docs:audit-screenshot -- --html audit.html --out docs/images/audit-report.png [--height 1600]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { findChromium, INSTALL_HINT, screenshot } from '../src/audit/chromium.js';

const WIDTH = 1280;
const DEFAULT_HEIGHT = 1600;

function usage(message: string): never {
  process.stderr.write(`audit-screenshot: ${message}\nusage: tsx scripts/audit-screenshot.ts --html FILE --out PNG [--height PX]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { html: { type: 'string' }, out: { type: 'string' }, height: { type: 'string' } }, strict: true });
  if (values.html === undefined || values.out === undefined) usage('--html and --out are required');
  const height = values.height === undefined ? DEFAULT_HEIGHT : Number(values.height);
  if (!Number.isInteger(height) || height < 200 || height > 20_000) usage(`--height must be whole pixels between 200 and 20000, not ${values.height ?? ''}`);
  if (!existsSync(values.html)) usage(`no such file: ${values.html}`);
  const chromium = findChromium();
  if (chromium === undefined) usage(`no headless browser found: ${INSTALL_HINT}`);
  await screenshot(values.html, values.out, { width: WIDTH, height, chromium });
  process.stderr.write(`audit-screenshot: ${values.out} (${WIDTH}x${height}) from ${values.html} with ${chromium}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`audit-screenshot: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
