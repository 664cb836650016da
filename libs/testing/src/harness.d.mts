// Types for harness.mjs.
export declare const ENV_NATS_URL: 'LIFELINE_TEST_NATS_URL';
export declare const ENV_DATABASE_URL: 'LIFELINE_TEST_DATABASE_URL';
export declare const ENV_HARNESS_FILE: 'LIFELINE_TEST_HARNESS_FILE';
export declare function setupHarness(): Promise<void>;
export declare function teardownHarness(): Promise<void>;
