import { tier } from './jest.preset.mjs';

// Specs that assert latency ratios measured in the same run (priority lanes, poison): one file at a
// time, nothing else running, so the machine's noise is the same for both sides of each ratio.
export default tier({
  displayName: 'timing',
  testMatch: ['<rootDir>/libs/**/*.timing.int.spec.ts', '<rootDir>/services/**/*.timing.int.spec.ts'],
  testTimeout: 120_000,
  globalSetup: '<rootDir>/libs/testing/src/global-setup.mjs',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.mjs',
  maxWorkers: 1,
});
