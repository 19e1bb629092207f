import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig as KafkaJsConfig, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config/config.js';
import { RunwatchError } from '../errors.js';
import { fixKafkaJsIdleLoop } from './kafkajs-idle-fix.js';

/** Where and how to reach Kafka: every client runwatch creates (source, admin, producers) is built from this. */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: KafkaConfig['sasl'];
}

/**
 * The one place a KafkaJS client is configured: brokers, TLS (CA, client certificate and key,
 * server name) and SASL (PLAIN, SCRAM-SHA-256/512). Certificate files are read here, at start.
 */
export function createKafka(connection: KafkaConnection, options: Omit<KafkaJsConfig, 'brokers' | 'ssl' | 'sasl'>): Kafka {
  fixKafkaJsIdleLoop();
  return new Kafka({ ...options, brokers: [...connection.brokers], ...securityOptions(connection) });
}

function securityOptions(connection: KafkaConnection): Pick<KafkaJsConfig, 'ssl' | 'sasl'> {
  const { ssl, sasl } = connection;
  const tls =
    ssl === undefined
      ? {}
      : {
          ssl: {
            rejectUnauthorized: true,
            ...(ssl.caFile === undefined ? {} : { ca: [readPem(ssl.caFile, 'CA')] }),
            ...(ssl.certFile === undefined ? {} : { cert: readPem(ssl.certFile, 'client certificate') }),
            ...(ssl.keyFile === undefined ? {} : { key: readPem(ssl.keyFile, 'client key') }),
            ...(ssl.servername === undefined ? {} : { servername: ssl.servername }),
          },
        };
  return { ...tls, ...(sasl === undefined ? {} : { sasl: saslOptions(sasl) }) };
}

function saslOptions(sasl: NonNullable<KafkaConnection['sasl']>): SASLOptions {
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
  }
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunwatchError('CONFIG_INVALID', `Kafka TLS ${what} file ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
