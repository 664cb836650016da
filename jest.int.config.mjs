import { tier } from './jest.preset.mjs';

export default tier({
  displayName: 'int',
  testMatch: ['<rootDir>/libs/**/*.int.spec.ts', '<rootDir>/services/**/*.int.spec.ts', '<rootDir>/bench/**/*.int.spec.ts'],
  testTimeout: 60_000,
  globalSetup: '<rootDir>/libs/testing/src/global-setup.mjs',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.mjs',
  maxWorkers: 2,
});
