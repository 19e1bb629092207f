/**
 * Debian's headless browser, to load the audit report's HTML page as a reader would: the DOM
 * after its script drew the charts (a test checks the drawing against the data), or a PNG for the
 * docs. The page loads nothing, so the browser runs with a fresh profile and no network to speak of.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where Debian's chromium-headless-shell package puts its binary (it may not be on PATH). */
const DEBIAN_HEADLESS_SHELL = '/usr/lib/chromium/chromium-headless-shell';

export const INSTALL_HINT = "install Debian's headless browser (apt-get install chromium-headless-shell, or chromium), or name a browser binary in RUNWATCH_CHROMIUM";

export interface ChromiumOptions {
  /** The browser binary; default: findChromium(). */
  readonly chromium?: string;
  /** Kill the browser after this long; default 60 s. */
  readonly timeoutMs?: number;
}

export interface ScreenshotOptions extends ChromiumOptions {
  readonly width: number;
  readonly height: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The headless shell first (smaller and made for this), then the full browser. RUNWATCH_CHROMIUM
 * names another binary (e.g. on a machine that is not Debian).
 */
export function findChromium(): string | undefined {
  const chosen = process.env['RUNWATCH_CHROMIUM'];
  if (chosen !== undefined && chosen !== '') return isExecutable(chosen) ? chosen : undefined;
  if (isExecutable(DEBIAN_HEADLESS_SHELL)) return DEBIAN_HEADLESS_SHELL;
  return onPath('chromium-headless-shell') ?? onPath('chromium');
}

function chromiumBinary(options: ChromiumOptions): string {
  const binary = options.chromium ?? findChromium();
  if (binary === undefined) throw new Error(`no headless browser found: ${INSTALL_HINT}`);
  return binary;
}

/** Runs the browser on one local page with a throwaway profile; resolves with its stdout. */
async function runChromium(binary: string, htmlFile: string, extraArgs: readonly string[], timeoutMs: number): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'runwatch-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox', // runs as root in CI containers, where the sandbox cannot start
    '--disable-gpu',
    '--disable-dev-shm-usage', // containers often have a 64 MB /dev/shm
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    // Virtual time runs the page's script and layout to completion before the dump or screenshot.
    '--virtual-time-budget=5000',
    ...extraArgs,
    pathToFileURL(resolve(htmlFile)).href,
  ];
  try {
    return await new Promise<string>((resolveRun, rejectRun) => {
      execFile(binary, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error === null) {
          resolveRun(stdout);
          return;
        }
        const why = error.killed ? `killed after ${timeoutMs} ms` : `failed (${error.code ?? error.signal ?? error.message})`;
        rejectRun(new Error(`${binary} ${why} on ${htmlFile}:\n${stderr.slice(-4_000)}`));
      });
    });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page's DOM as serialized after its scripts ran (chromium --dump-dom). */
export async function dumpDom(htmlFile: string, options: ChromiumOptions = {}): Promise<string> {
  const dom = await runChromium(chromiumBinary(options), htmlFile, ['--dump-dom'], options.timeoutMs ?? 60_000);
  if (!dom.includes('<html')) throw new Error(`chromium printed no DOM for ${htmlFile}`);
  return dom;
}

/** A PNG of the page's first width × height pixels, after its scripts ran. */
export async function screenshot(htmlFile: string, pngFile: string, options: ScreenshotOptions): Promise<void> {
  const args = [`--screenshot=${resolve(pngFile)}`, `--window-size=${options.width},${options.height}`, '--hide-scrollbars'];
  const binary = chromiumBinary(options);
  await rm(pngFile, { force: true }); // an old file must not pass for a new screenshot
  await runChromium(binary, htmlFile, args, options.timeoutMs ?? 60_000);
  const written = await stat(pngFile).catch(() => undefined);
  if (written === undefined || written.size === 0) throw new Error(`${binary} wrote no screenshot to ${pngFile}`);
}
