// Jest runs in ESM mode: Nest 12 is ESM-only and Jest's CJS mode cannot load it on Node 20
// (jestjs/jest#15716). @swc/jest emits ES modules with decorator metadata for Nest DI.
import { readdirSync } from 'node:fs';

const libs = readdirSync(new URL('./libs', import.meta.url));
const aliases = Object.fromEntries(
  libs.map((lib) => [`^@lifeline/${lib}$`, `<rootDir>/libs/${lib}/src/index.ts`]),
);

export function tier({ displayName, testMatch, testTimeout, globalSetup, globalTeardown, maxWorkers }) {
  return {
    displayName,
    rootDir: new URL('.', import.meta.url).pathname,
    testEnvironment: 'node',
    testMatch,
    testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.mesh/'],
    extensionsToTreatAsEsm: ['.ts'],
    moduleNameMapper: {
      ...aliases,
      // relative ESM specifiers end in .js; map them back to the .ts sources
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: {
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
            target: 'es2022',
            keepClassNames: true,
          },
          module: { type: 'es6' },
        },
      ],
    },
    testTimeout,
    globalSetup,
    globalTeardown,
    maxWorkers,
    setupFiles: ['<rootDir>/tools/jest/setup-env.mjs'],
  };
}
