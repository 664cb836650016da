// Jest globalTeardown: stops the private servers globalSetup started and deletes their temp dir.
import { teardownHarness } from './harness.mjs';

export default async function globalTeardown() {
  await teardownHarness();
}
