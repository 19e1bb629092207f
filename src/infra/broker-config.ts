/**
 * The one definition of how runwatch runs a single-node Kafka (KRaft) broker from the Maven jars.
 * Both the child-process path (src/infra/local-broker.ts) and the Testcontainers path
 * (test/support/kafka-broker.ts) build their files and argv here, so "it works in a container"
 * and "it works as a process" test the same broker configuration.
 *
 * Paths are absolute and identical inside the container (it bind-mounts them at the same place),
 * which is what lets one argv serve both.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, realpath, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Logged by kafka.server.KafkaRaftServer at INFO once the broker serves clients (checked on 4.1.1). */
export const KAFKA_STARTED_PATTERN = /Kafka Server started/;

/** Heap cap: the default (1/4 of RAM) would let one test broker take 6 GiB of a shared 24 GiB box. */
const HEAP = '-Xmx512m';

/**
 * C1 only: on 2 busy cores the C2 compiler threads roughly doubled start time (measured: format
 * ~1.5 s vs ~4 s, start ~5 s vs ~10 s); a local broker values start-up over peak throughput.
 */
const FAST_START = '-XX:TieredStopAtLevel=1';

/**
 * The project root. This module lives at src/infra/*.ts (tsx) or dist/infra/*.js (node), both two
 * levels below the root, so the same relative URL works from either.
 */
export function projectRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

export interface BrokerFiles {
  /** Directory holding server.properties, log4j2.properties and the data dir. */
  readonly workDir: string;
  readonly propertiesFile: string;
  readonly log4jFile: string;
  readonly port: number;
  readonly controllerPort: number;
  /** KRaft cluster id: 16 random bytes, base64url (22 chars), as the storage tool expects. */
  readonly clusterId: string;
  /** SCRAM credentials written when the log dir is formatted. */
  readonly scramUsers: BrokerSecurity['scramUsers'];
}

/**
 * Secured listeners besides PLAINTEXT (tests of TLS and SASL): an SSL listener that requires a
 * client certificate, and a SASL_SSL listener taking PLAIN and SCRAM. Key and trust stores are
 * PKCS12 files; SCRAM users are created when the log dir is formatted.
 */
export interface BrokerSecurity {
  readonly sslPort: number;
  readonly saslSslPort: number;
  readonly keystoreFile: string;
  readonly truststoreFile: string;
  readonly storePassword: string;
  readonly plainUsers: ReadonlyArray<{ readonly name: string; readonly password: string }>;
  readonly scramUsers: ReadonlyArray<{ readonly mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; readonly name: string; readonly password: string }>;
}

function securityProperties(security: BrokerSecurity): string[] {
  const plainUsers = security.plainUsers.map((u) => `user_${u.name}="${u.password}"`).join(' ');
  return [
    `ssl.keystore.type=PKCS12`,
    `ssl.keystore.location=${security.keystoreFile}`,
    `ssl.keystore.password=${security.storePassword}`,
    `ssl.key.password=${security.storePassword}`,
    `ssl.truststore.type=PKCS12`,
    `ssl.truststore.location=${security.truststoreFile}`,
    `ssl.truststore.password=${security.storePassword}`,
    'listener.name.ssl.ssl.client.auth=required',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
  ];
}

/** server.properties for a single node that is both broker and controller, loopback only. */
export function serverProperties(port: number, controllerPort: number, logDir: string, security?: BrokerSecurity): string {
  const secured = security === undefined ? '' : `,SSL://127.0.0.1:${security.sslPort},SASL_SSL://127.0.0.1:${security.saslSslPort}`;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${secured}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${secured}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${security === undefined ? '' : ',SSL:SSL,SASL_SSL:SASL_SSL'}`,
    ...(security === undefined ? [] : securityProperties(security)),
    `log.dirs=${logDir}`,
    'num.partitions=4',
    // One node: internal topics cannot have more replicas than that.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    // Tests create many short-lived consumer groups; the 3 s default delay would slow each one.
    'group.initial.rebalance.delay.ms=0',
    // Keep records whatever their timestamps. Simulated traffic is historical (record timestamps
    // in 2025), and the default 7-day time retention deletes it at the first retention check, 30 s
    // after the broker starts: a replay running then lost its records mid-read (the flaky e2e test
    // of stops 4-5), and every later read found empty partitions.
    'log.retention.ms=-1',
    '',
  ].join('\n');
}

/** Writes the broker's config files into workDir (which must exist). */
export async function writeBrokerFiles(
  workDir: string,
  port: number,
  controllerPort: number,
  security?: BrokerSecurity,
): Promise<BrokerFiles> {
  const propertiesFile = join(workDir, 'server.properties');
  const log4jFile = join(workDir, 'log4j2.properties');
  await mkdir(join(workDir, 'data'), { recursive: true });
  await writeFile(propertiesFile, serverProperties(port, controllerPort, join(workDir, 'data'), security));
  // Copied rather than referenced so the work dir is self-contained (one bind mount in a container).
  await copyFile(join(projectRoot(), 'infra', 'kafka', 'log4j2.properties'), log4jFile);
  return {
    workDir,
    propertiesFile,
    log4jFile,
    port,
    controllerPort,
    clusterId: newClusterId(),
    scramUsers: security?.scramUsers ?? [],
  };
}

/**
 * A random KRaft cluster id that the storage tool accepts on its command line. Base64url can start
 * with '-' (1 draw in 64): argparse then reads `-t -xyz...` as an option, `format` exits 1 with
 * "argument --cluster-id/-t: expected one argument" in about a second, and the broker never starts
 * (seen in CI as the container dying before "Kafka Server started", and it fails the process path
 * the same way). Kafka's own Uuid.randomUuid() redraws such ids for this reason; so do we.
 */
function newClusterId(): string {
  let id: string;
  do id = randomBytes(16).toString('base64url');
  while (id.startsWith('-'));
  return id;
}

function classpathArgs(files: BrokerFiles, jarsDir: string): string[] {
  return [FAST_START, '-cp', `${jarsDir}/*`, `-Dlog4j2.configurationFile=${files.log4jFile}`];
}

/** JVM args that format the KRaft log dir (must run once before the first start). */
export function formatArgv(files: BrokerFiles, jarsDir: string): string[] {
  return [
    ...classpathArgs(files, jarsDir),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    files.clusterId,
    '-c',
    files.propertiesFile,
    ...files.scramUsers.flatMap((u) => ['--add-scram', `${u.mechanism}=[name=${u.name},password=${u.password}]`]),
  ];
}

/**
 * Whether the data dir was formatted by an earlier run. Such a dir must not be formatted again:
 * even with --ignore-formatted the storage tool rejects a cluster id other than the stored one.
 */
export function isFormatted(files: BrokerFiles): boolean {
  return existsSync(join(files.workDir, 'data', 'meta.properties'));
}

/** JVM args that run the broker in the foreground. */
export function serverArgv(files: BrokerFiles, jarsDir: string): string[] {
  return [HEAP, ...classpathArgs(files, jarsDir), 'kafka.Kafka', files.propertiesFile];
}

/**
 * Absolute path of the java binary: JAVA_HOME if set, else `java` on PATH with symlinks
 * (/usr/bin/java -> /etc/alternatives -> /usr/lib/jvm/...) resolved, so a container that mounts
 * the host's /usr can run the very same JDK.
 */
export async function javaBinary(): Promise<string> {
  const home = process.env.JAVA_HOME;
  if (home) return realpath(join(home, 'bin', 'java'));
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      return await realpath(join(dir, 'java'));
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error('java not found: install a JDK >= 17 (Debian: openjdk-17-jre-headless) or set JAVA_HOME');
}

/**
 * N distinct free loopback ports. All listeners stay open until every port is known, so the
 * kernel cannot hand the same port out twice; a small race with other programs remains.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/**
 * Directory of the pinned Kafka jars. Runs infra/kafka/fetch.sh, which returns at once when its
 * completion marker is present and otherwise downloads them with Maven; the pom stays the single
 * place that names the Kafka version.
 */
export async function ensureKafkaJars(): Promise<string> {
  const script = join(projectRoot(), 'infra', 'kafka', 'fetch.sh');
  try {
    const { stdout } = await promisify(execFile)('bash', [script], { maxBuffer: 16 * 1024 * 1024 });
    const dir = stdout.trim().split('\n').pop();
    if (!dir) throw new Error('fetch.sh printed no path');
    return dir;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`could not fetch the Kafka jars with ${script}: ${String(err)}\n${stderr}`);
  }
}
