/**
 * Certificates for TLS tests, made with openssl and the JDK's keytool: a CA, a server certificate
 * for 127.0.0.1 (PKCS12 key store for the broker), a PKCS12 trust store holding the CA, and a
 * client certificate and key (PEM) for mutual TLS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** The server certificate (for 127.0.0.1) and its key, PEM. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly keystoreFile: string;
  readonly truststoreFile: string;
  readonly storePassword: string;
}

const run = (cwd: string, command: string, args: readonly string[]): void => void execFileSync(command, [...args], { cwd, stdio: 'pipe' });

export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'runwatch-tls-'));
  const storePassword = 'changeit-test';
  const days = ['-days', '2'];
  run(dir, 'openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=runwatch-test-ca', ...days]);
  for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'runwatch-client']] as const) {
    run(dir, 'openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    const ext = name === 'server' ? ['-extfile', join(dir, 'san.cnf')] : [];
    if (name === 'server') execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.cnf`], { cwd: dir });
    run(dir, 'openssl', ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, ...days, ...ext]);
  }
  run(dir, 'openssl', ['pkcs12', '-export', '-in', 'server.crt', '-inkey', 'server.key', '-certfile', 'ca.crt', '-name', 'broker', '-out', 'server.p12', '-passout', `pass:${storePassword}`]);
  run(dir, 'keytool', ['-importcert', '-noprompt', '-alias', 'ca', '-file', 'ca.crt', '-keystore', 'trust.p12', '-storetype', 'PKCS12', '-storepass', storePassword]);
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    keystoreFile: join(dir, 'server.p12'),
    truststoreFile: join(dir, 'trust.p12'),
    storePassword,
  };
}
