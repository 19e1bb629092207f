/**
 * A real schema registry for integration tests: Apicurio Registry (Confluent-compatible API under
 * /apis/ccompat/v7), unpacked from Maven Central by infra/apicurio/fetch.sh, run on a Java 21+
 * (infra/apicurio/java21.sh). Preferred: a Testcontainers container of the offline image
 * runwatch/hostjdk:1 borrowing the host's JDK and the unpacked app through read-only mounts, as
 * the Kafka broker does. Declared fallback when no container engine works: the same command as a
 * child process. `pause()`/`resume()` freeze it (docker pause, SIGSTOP): requests hang, as with a
 * registry that stopped answering.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { GenericContainer, ImageName, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { freePorts, projectRoot } from '../../src/infra/broker-config.js';

const IMAGE = 'runwatch/hostjdk:1';
const START_TIMEOUT_MS = 120_000;
const STARTED = /Listening on: http:/;

export interface TestSchemaRegistry {
  /** Base URL of the Confluent-compatible API. */
  readonly url: string;
  readonly mode: 'container' | 'process';
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

async function script(name: string): Promise<string> {
  const path = join(projectRoot(), 'infra', 'apicurio', name);
  try {
    const { stdout } = await promisify(execFile)('bash', [path], { maxBuffer: 1024 * 1024 });
    const line = stdout.trim().split('\n').pop();
    if (!line) throw new Error(`${name} printed nothing`);
    return line;
  } catch (err) {
    throw new Error(`${path} failed: ${String(err)}\n${(err as { stderr?: string }).stderr ?? ''}`);
  }
}

export async function startSchemaRegistryForTests(): Promise<TestSchemaRegistry> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  const appDir = await script('fetch.sh');
  const java = await script('java21.sh');
  const [port, managementPort] = await freePorts(2);
  const argv = [
    java,
    `-Dquarkus.http.port=${port}`,
    '-Dquarkus.http.host=127.0.0.1',
    // Its management interface would take 0.0.0.0:9000 otherwise (one per machine, and not loopback).
    `-Dquarkus.management.port=${managementPort}`,
    '-Dquarkus.management.host=127.0.0.1',
    '-jar',
    join(appDir, 'quarkus-run.jar'),
  ];
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const started = Date.now();
  if (process.env.RUNWATCH_TEST_BROKER !== 'process') {
    try {
      const registry = await startInContainer(argv, appDir, url);
      console.log(`[runwatch-tests] Apicurio Registry started by Testcontainers at ${url} in ${Date.now() - started} ms`);
      return registry;
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      console.warn(`[runwatch-tests] container engine unavailable (${reason}): starting Apicurio Registry as a child process`);
    }
  }
  const registry = await startAsProcess(argv, url);
  console.log(`[runwatch-tests] Apicurio Registry started as a child process at ${url} in ${Date.now() - started} ms`);
  return registry;
}

async function startInContainer(argv: readonly string[], appDir: string, url: string): Promise<TestSchemaRegistry> {
  const client = await getContainerRuntimeClient();
  if (!(await client.image.exists(ImageName.fromString(IMAGE)))) throw new Error(`image ${IMAGE} is missing: run infra/docker/setup.sh`);
  const workDir = await mkdtemp(join(tmpdir(), 'runwatch-apicurio-ct-'));
  const mounts = ['/usr', '/lib', '/lib64', '/etc'];
  let container: StartedTestContainer | undefined;
  try {
    container = await new GenericContainer(IMAGE)
      .withNetworkMode('host')
      .withBindMounts([...mounts.map((m) => ({ source: m, target: m, mode: 'ro' as const })), { source: appDir, target: appDir, mode: 'ro' }, { source: workDir, target: workDir, mode: 'rw' }])
      .withUser(`${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`)
      .withWorkingDir(workDir)
      .withEnvironment({ HOME: workDir })
      .withLabels({ 'runwatch.test-registry': 'true' })
      .withCommand([...argv.slice(0, 1), `-Djava.io.tmpdir=${workDir}`, ...argv.slice(1)])
      .withWaitStrategy(Wait.forLogMessage(STARTED))
      .withStartupTimeout(START_TIMEOUT_MS)
      .start();
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  const id = container.getId();
  const onExit = (): void => void spawnSync('docker', ['rm', '-f', id], { stdio: 'ignore', timeout: 10_000 });
  process.once('exit', onExit);
  const running = container;
  const docker = async (...args: string[]): Promise<void> => void (await promisify(execFile)('docker', args));
  return {
    url,
    mode: 'container',
    pause: () => docker('pause', id),
    resume: () => docker('unpause', id),
    stop: async () => {
      process.removeListener('exit', onExit);
      await running.stop({ timeout: 10_000 });
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

async function startAsProcess(argv: readonly string[], url: string): Promise<TestSchemaRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), 'runwatch-apicurio-'));
  const [java, ...args] = argv;
  const child: ChildProcess = spawn(java!, [`-Djava.io.tmpdir=${workDir}`, ...args], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const tail: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Apicurio Registry did not start within ${START_TIMEOUT_MS} ms:\n${tail.join('\n')}`)), START_TIMEOUT_MS);
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          tail.push(line);
          if (tail.length > 40) tail.shift();
          if (STARTED.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Apicurio Registry exited early with ${code ?? signal}:\n${tail.join('\n')}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    process.removeListener('exit', killOnExit);
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    mode: 'process',
    pause: async () => void child.kill('SIGSTOP'),
    resume: async () => void child.kill('SIGCONT'),
    stop: async () => {
      process.removeListener('exit', killOnExit);
      child.kill('SIGCONT');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
