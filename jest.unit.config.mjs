import { tier } from './jest.preset.mjs';

export default tier({
  displayName: 'unit',
  testMatch: ['<rootDir>/libs/**/*.unit.spec.ts', '<rootDir>/services/**/*.unit.spec.ts', '<rootDir>/tools/**/*.unit.spec.ts'],
  testTimeout: 10_000,
  maxWorkers: 2,
});
