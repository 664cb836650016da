// Jest globalSetup for the int and e2e tiers (jest.int.config.mjs, jest.e2e.config.mjs).
import { setupHarness } from './harness.mjs';

export default async function globalSetup() {
  await setupHarness();
}
