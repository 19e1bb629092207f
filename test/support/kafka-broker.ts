/**
 * The Kafka broker that integration tests run against. Preferred: a Testcontainers container
 * (real lifecycle, `docker pause`/`kill` for fault injection). No image can be pulled here, so
 * the image is the empty runwatch/hostjdk:1 (infra/docker/setup.sh) borrowing the host's JDK and
 * the cached Kafka jars through read-only bind mounts. Declared fallback when no container engine
 * works: the very same broker config as a child process. Tests never skip for lack of a broker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { GenericContainer, ImageName, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import {
  KAFKA_STARTED_PATTERN,
  ensureKafkaJars,
  formatArgv,
  freePorts,
  javaBinary,
  serverArgv,
  writeBrokerFiles,
} from '../../src/infra/broker-config.js';
import { startLocalBroker, waitUntilServing, type LocalBroker } from '../../src/infra/local-broker.js';

const IMAGE = 'runwatch/hostjdk:1';
const START_TIMEOUT_MS = 60_000;

export async function startKafkaForTests(): Promise<LocalBroker> {
  // The reaper image cannot be pulled, and with no bridge network Testcontainers cannot guess the
  // host; a caller's explicit settings win.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

  const jarsDir = await ensureKafkaJars();
  const started = Date.now();
  // Escape hatch for debugging the process path on a machine that has a working engine.
  if (process.env.RUNWATCH_TEST_BROKER === 'process') {
    console.warn('[runwatch-tests] RUNWATCH_TEST_BROKER=process: not trying a container');
  } else {
    try {
      const broker = await startInContainer(jarsDir);
      console.log(
        `[runwatch-tests] Kafka broker started by Testcontainers (container ${broker.containerId}) at ${broker.brokers[0]} in ${Date.now() - started} ms`,
      );
      return broker;
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      console.warn(
        `[runwatch-tests] container engine unavailable (${reason}): starting the same Kafka broker as a child process`,
      );
    }
  }
  const fallbackStart = Date.now();
  const broker = await startLocalBroker({ jarsDir, startTimeoutMs: START_TIMEOUT_MS });
  console.log(
    `[runwatch-tests] Kafka broker started as a child process (pid ${broker.pid}) at ${broker.brokers[0]} in ${Date.now() - fallbackStart} ms`,
  );
  return broker;
}

async function startInContainer(jarsDir: string): Promise<LocalBroker> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  // A missing image would make Testcontainers try to pull it from a registry this machine must
  // not contact: say so instead (infra/docker/setup.sh imports it).
  const client = await getContainerRuntimeClient();
  if (!(await client.image.exists(ImageName.fromString(IMAGE)))) {
    throw new Error(`image ${IMAGE} is missing: run infra/docker/setup.sh`);
  }
  const java = await javaBinary();
  const workDir = await mkdtemp(join(tmpdir(), 'runwatch-kafka-ct-'));
  let container: StartedTestContainer | undefined;
  let onExit: (() => void) | undefined;
  try {
    const [port, controllerPort] = await freePorts(2);
    const files = await writeBrokerFiles(workDir, port!, controllerPort!);
    // Same paths inside as outside, so the argv from broker-config.ts applies unchanged.
    const runtimeMounts = ['/usr', '/lib', '/lib64', '/etc'];
    const javaHome = dirname(dirname(java));
    if (!runtimeMounts.some((m) => javaHome.startsWith(`${m}/`))) runtimeMounts.push(javaHome);
    const script = `${shellJoin([java, ...formatArgv(files, jarsDir)])} && exec ${shellJoin([java, ...serverArgv(files, jarsDir)])}`;

    container = await new GenericContainer(IMAGE)
      .withNetworkMode('host') // loopback only: the bridge network is off-limits here
      .withBindMounts([
        ...runtimeMounts.map((m) => ({ source: m, target: m, mode: 'ro' as const })),
        { source: jarsDir, target: jarsDir, mode: 'ro' },
        { source: workDir, target: workDir, mode: 'rw' },
      ])
      // Our uid, so the data files stay removable by us after the container is gone.
      .withUser(`${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`)
      .withLabels({ 'runwatch.test-broker': 'true' })
      // /usr/bin/sh, not /bin/sh: the image may lack the bin -> usr/bin symlink.
      .withCommand(['/usr/bin/sh', '-c', script])
      .withWaitStrategy(Wait.forLogMessage(KAFKA_STARTED_PATTERN))
      .withStartupTimeout(START_TIMEOUT_MS)
      .start();

    // Without Ryuk nothing reaps a container whose test process dies: remove it on exit.
    const id = container.getId();
    onExit = () => {
      spawnSync('docker', ['rm', '-f', id], { stdio: 'ignore', timeout: 10_000 });
    };
    process.once('exit', onExit);

    const brokers = [`127.0.0.1:${port}`];
    await waitUntilServing(brokers, deadline);

    const started = container;
    const exitHook = onExit;
    let stopping: Promise<void> | undefined;
    return {
      brokers,
      mode: 'container',
      containerId: id,
      stop: () => {
        stopping ??= (async () => {
          await started.stop({ timeout: 15_000 }); // SIGTERM, then SIGKILL after 15 s
          process.removeListener('exit', exitHook);
          await rm(workDir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    if (onExit) process.removeListener('exit', onExit);
    await container?.stop().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

function shellJoin(args: string[]): string {
  return args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
}

/** A broker a test may stop and start again (same port, same data): fault injection for one test file. */
export interface RestartableKafka {
  readonly brokers: string[];
  readonly mode: 'process';
  /**
   * Stops the broker (SIGTERM, SIGKILL after 10 s; `kill`: SIGKILL at once, as `kill -9`) and waits
   * until it is gone: clients get connection refused.
   */
  stop(options?: { readonly kill?: boolean }): Promise<void>;
  /** Starts it again on the same port with the same data and waits until it serves clients. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  close(): Promise<void>;
}

/**
 * A dedicated broker for a test that takes it down and brings it back (the shared one of
 * global-setup.ts serves other test files at the same time). Child process only: a restart keeps
 * the listener port and the log dir, which is what a client reconnecting to "the same broker"
 * needs; the container path formats a fresh log dir at every start.
 */
export async function startRestartableKafkaForTests(): Promise<RestartableKafka> {
  const jarsDir = await ensureKafkaJars();
  const java = await javaBinary();
  const workDir = await mkdtemp(join(tmpdir(), 'runwatch-kafka-restartable-'));
  const [port, controllerPort] = await freePorts(2);
  const files = await writeBrokerFiles(workDir, port!, controllerPort!);
  const brokers = [`127.0.0.1:${port}`];
  await runJava(java, formatArgv(files, jarsDir));
  let child: ChildProcess | undefined;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('the broker is running already');
    const deadline = Date.now() + START_TIMEOUT_MS;
    const started = spawn(java, serverArgv(files, jarsDir), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not start in time:\n${tail.join('\n')}`)), START_TIMEOUT_MS);
      for (const stream of [started.stdout, started.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          tail.push(line);
          if (tail.length > 40) tail.shift();
          if (KAFKA_STARTED_PATTERN.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`broker exited early with ${code ?? signal}:\n${tail.join('\n')}`));
      });
    });
    await waitUntilServing(brokers, deadline);
  };

  const stop = async (options: { readonly kill?: boolean } = {}): Promise<void> => {
    const running = child;
    if (running === undefined) return;
    child = undefined;
    if (running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(options.kill === true ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    await stop();
    process.removeListener('exit', killOnExit);
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  console.log(`[runwatch-tests] restartable Kafka broker started as a child process at ${brokers[0]}`);
  return {
    brokers,
    mode: 'process',
    stop,
    start,
    close: async () => {
      await stop();
      process.removeListener('exit', killOnExit);
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

function runJava(java: string, args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const formatting = spawn(java, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    formatting.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    formatting.once('error', reject);
    formatting.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`formatting the Kafka log dir failed (${code}): ${stderr}`))));
  });
}
