/**
 * Vitest globalSetup: one real Kafka broker for the whole run, shared by all integration test
 * files (they isolate themselves with unique topic and group names). Started unconditionally:
 * knowing up front whether any integration file will run is not cheap, and a start is seconds.
 */
import type { TestProject } from 'vitest/node';
import type { LocalBroker } from '../src/infra/local-broker.js';
import { startKafkaForTests } from './support/kafka-broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    kafkaMode: string;
  }
}

let broker: LocalBroker | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  broker = await startKafkaForTests();
  project.provide('kafkaBrokers', broker.brokers);
  project.provide('kafkaMode', broker.mode);
  return async () => {
    await broker?.stop();
    broker = undefined;
  };
}
