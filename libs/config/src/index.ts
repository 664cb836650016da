export { loadConfig, csv } from './load-config.js';
export type { ConfigErrorCode } from './load-config.js';
export { COMMON_ENV, DATABASE_ENV, mapCommon } from './common.js';
export type { CommonConfig } from './common.js';
export { retryPoliciesEnv } from './retry-policies.env.js';
export { downstreamGuardEnv, mapDownstreamGuard } from './downstream.js';
export type { DownstreamGuardSettings } from './downstream.js';
export { consumerLeasesEnv } from './consumer-leases.env.js';
export { groupCommitEnv } from './group-commit.env.js';
