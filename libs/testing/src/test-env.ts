import { ENV_DATABASE_URL, ENV_NATS_URL } from './harness.mjs';

/** NATS (JetStream) URL of this test run, provided by the int/e2e globalSetup. */
export function testNatsUrl(): string {
  return readHarnessEnv(ENV_NATS_URL, 'NATS');
}

/** Admin PostgreSQL URL of this test run (may CREATE DATABASE), provided by the int/e2e globalSetup. */
export function testAdminDatabaseUrl(): string {
  return readHarnessEnv(ENV_DATABASE_URL, 'PostgreSQL');
}

function readHarnessEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `${name} is not set: ${what} comes from the Jest globalSetup of the int and e2e tiers ` +
        '(libs/testing/src/global-setup.mjs); run this spec with `npm run test:int` or `npm run test:e2e`',
    );
  }
  return value;
}
