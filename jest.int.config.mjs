import { tier } from './jest.preset.mjs';

// Latency-ratio specs (*.timing.int.spec.ts) run in their own tier, alone on the machine: a second
// worker's load next to them skews the very ratios they assert.
const config = tier({
  displayName: 'int',
  testMatch: ['<rootDir>/libs/**/*.int.spec.ts', '<rootDir>/services/**/*.int.spec.ts', '<rootDir>/bench/**/*.int.spec.ts'],
  testTimeout: 60_000,
  globalSetup: '<rootDir>/libs/testing/src/global-setup.mjs',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.mjs',
  maxWorkers: 2,
});
config.testPathIgnorePatterns = [...config.testPathIgnorePatterns, '\\.timing\\.int\\.spec\\.ts$'];

export default config;
