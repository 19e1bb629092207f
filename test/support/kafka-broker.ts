/**
 * The Kafka broker that integration tests run against. Preferred: a Testcontainers container
 * (real lifecycle, `docker pause`/`kill` for fault injection). No image can be pulled here, so
 * the image is the empty runwatch/hostjdk:1 (infra/docker/setup.sh) borrowing the host's JDK and
 * the cached Kafka jars through read-only bind mounts. Declared fallback when no container engine
 * works: the very same broker config as a child process. Tests never skip for lack of a broker.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
