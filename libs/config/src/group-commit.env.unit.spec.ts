import { describe, expect, it } from '@jest/globals';

import { groupCommitEnv } from './group-commit.env.js';

describe('groupCommitEnv', () => {
  it('is on by default: 32 messages per transaction at most, 4 batch transactions at once', () => {
    expect(groupCommitEnv('orders', {})).toEqual({ enabled: true, maxBatch: 32, maxParallel: 4 });
  });

  it('reads GROUP_COMMIT, GROUP_COMMIT_MAX_BATCH and GROUP_COMMIT_MAX_PARALLEL', () => {
    expect(groupCommitEnv('orders', { GROUP_COMMIT: 'off', GROUP_COMMIT_MAX_BATCH: '8', GROUP_COMMIT_MAX_PARALLEL: '2' })).toEqual({
      enabled: false,
      maxBatch: 8,
      maxParallel: 2,
    });
  });

  it('refuses a bad value, naming the key', () => {
    expect(() => groupCommitEnv('orders', { GROUP_COMMIT: 'yes' })).toThrow(/orders: invalid configuration: GROUP_COMMIT/);
    expect(() => groupCommitEnv('orders', { GROUP_COMMIT_MAX_BATCH: '0' })).toThrow(/GROUP_COMMIT_MAX_BATCH/);
  });
});
