/**
 * Runs a real single-node Kafka broker as a child JVM: what `npm start` uses when no broker is
 * configured, and the declared fallback for tests when no container engine is available.
 * Configuration comes from ./broker-config.ts, shared with the Testcontainers path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import type { Logger } from 'pino';
import {
  KAFKA_STARTED_PATTERN,
  type BrokerSecurity,
  ensureKafkaJars,
  formatArgv,
  freePorts,
  isFormatted,
  javaBinary,
  serverArgv,
  writeBrokerFiles,
} from './broker-config.js';

export interface LocalBroker {
  /** Bootstrap servers, e.g. ['127.0.0.1:40123']. */
  brokers: string[];
  mode: 'process' | 'container';
  /** Child JVM pid (process mode) or container id (container mode): handles for fault injection. */
  pid?: number;
  containerId?: string;
  stop(): Promise<void>;
}

export interface LocalBrokerOptions {
  port?: number;
  /** Kept after stop() and reused on the next start; by default a temp dir that stop() removes. */
  dataDir?: string;
  logger?: Logger;
  /** Defaults to the jars that infra/kafka/fetch.sh caches (fetched on first use). */
  jarsDir?: string;
  /** How long to wait for the broker to serve clients; default 60 s. */
  startTimeoutMs?: number;
  /** Also open an SSL and a SASL_SSL listener (tests of Kafka security). */
  security?: BrokerSecurity;
}

const LOG_TAIL_LINES = 40;

export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? 60_000);
  const log = options.logger;
  const jarsDir = options.jarsDir ?? (await ensureKafkaJars());
  const java = await javaBinary();
  const ownsDir = options.dataDir === undefined;
  const workDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'runwatch-kafka-')));
  const cleanupDir = async (): Promise<void> => {
    if (ownsDir) await rm(workDir, { recursive: true, force: true });
  };

  const [freeA, freeB] = await freePorts(2);
  const port = options.port ?? freeA!;
  const controllerPort = freeB! === port ? freeA! : freeB!;
  const files = await writeBrokerFiles(workDir, port, controllerPort, options.security);
  const tail: string[] = [];

  try {
    if (!isFormatted(files)) await runToCompletion(java, formatArgv(files, jarsDir), tail, deadline);
  } catch (err) {
    await cleanupDir();
    throw startError('formatting the Kafka log dir failed', err, tail);
  }

  const child = spawn(java, serverArgv(files, jarsDir), { stdio: ['ignore', 'pipe', 'pipe'] });
  // A stopped parent must not leave a broker holding ports: kill on any exit, and a watchdog
  // covers the cases where no 'exit' event runs (SIGKILL, fatal signal).
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const watchdog = child.pid === undefined ? undefined : spawnWatchdog(child.pid, ownsDir ? workDir : undefined);
  let stopping: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      // Once the JVM is gone its pid may be reused: the watchdog must not fire at it any more.
      watchdog?.kill('SIGKILL');
      if (!stopping) log?.error({ code, signal, lastLines: tail }, 'local Kafka broker exited unexpectedly');
      resolve();
    });
    // A failed spawn emits 'error' and no 'exit'; stop() must not wait for one.
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, exited, 15_000);
      process.removeListener('exit', onExit);
      await cleanupDir();
      log?.info({ port }, 'local Kafka broker stopped');
    })();
    return stopping;
  };

  const brokers = [`127.0.0.1:${port}`];
  try {
    await waitForLine(child, KAFKA_STARTED_PATTERN, tail, deadline, (line) => log?.debug({ kafka: line }));
    await waitUntilServing(brokers, deadline);
  } catch (err) {
    await stop();
    throw startError(`Kafka broker on 127.0.0.1:${port} did not become ready`, err, tail);
  }
  log?.info({ brokers, brokerPid: child.pid, ms: Date.now() - started, workDir }, 'local Kafka broker started');
  return { brokers, mode: 'process', ...(child.pid === undefined ? {} : { pid: child.pid }), stop };
}

/**
 * Succeeds once a real client can fetch cluster metadata and find a group coordinator. The log
 * line alone does not prove the listener answers KafkaJS, and on a fresh broker the first
 * FindCoordinator creates __consumer_offsets: until that is done, consumer groups crash-restart
 * with "coordinator not available", so readiness includes it.
 */
export async function waitUntilServing(brokers: string[], deadline: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'runwatch-ready-probe', brokers, logLevel: logLevel.NOTHING });
  let lastError: unknown;
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0) {
        await admin.describeGroups(['runwatch-ready-probe']);
        return;
      }
    } catch (err) {
      lastError = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`describeCluster + describeGroups did not succeed in time: ${String(lastError)}`);
}

function startError(what: string, cause: unknown, tail: string[]): Error {
  const lines = tail.length > 0 ? tail.join('\n') : '(no output)';
  return new Error(`${what}: ${cause instanceof Error ? cause.message : String(cause)}\nlast broker log lines:\n${lines}`, {
    cause,
  });
}

/** Keeps the last lines of a child's output for error messages. */
function collect(child: ChildProcess, tail: string[], onLine?: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      onLine?.(line);
    });
  }
}

async function runToCompletion(cmd: string, args: string[], tail: string[], deadline: number): Promise<void> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  collect(child, tail);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('timed out'));
    }, Math.max(0, deadline - Date.now()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`exited with ${code ?? signal}`));
    });
  });
}

function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  tail: string[],
  deadline: number,
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error('timed out waiting for "Kafka Server started"')), Math.max(0, deadline - Date.now()));
    collect(child, tail, (line) => {
      onLine(line);
      if (pattern.test(line)) finish();
    });
    child.once('error', (err) => finish(err));
    child.once('exit', (code, signal) => finish(new Error(`broker exited early with ${code ?? signal}`)));
  });
}

/** SIGTERM lets Kafka shut down cleanly; SIGKILL if it has not exited after graceMs. */
async function terminate(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * A tiny shell that blocks reading a pipe from this process. The pipe closes when this process
 * dies however it dies (even SIGKILL, where no 'exit' handler runs); the shell then stops the
 * broker and removes the temp dir we own. Detached and unref'd: it neither holds this process
 * open nor dies with its process group.
 */
function spawnWatchdog(pid: number, ownedDir: string | undefined): ChildProcess {
  const script = [
    'cat >/dev/null',
    'kill -TERM "$1" 2>/dev/null',
    'i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.5; i=$((i+1)); done',
    'kill -KILL "$1" 2>/dev/null',
    'if [ -n "$2" ]; then rm -rf "$2"; fi',
  ].join('; ');
  const dog = spawn('sh', ['-c', script, 'runwatch-kafka-watchdog', String(pid), ownedDir ?? ''], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  dog.unref();
  if (dog.stdin instanceof Socket) dog.stdin.unref();
  return dog;
}
