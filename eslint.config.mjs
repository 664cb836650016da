// Lint: module boundaries first (type/scope tags from each package.json "nx.tags"), then type-checked
// TypeScript rules. Formatting is Prettier's job, not ESLint's.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const boundaries = {
  '@nx/enforce-module-boundaries': [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      banTransitiveDependencies: false,
      depConstraints: [
        { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:data-access', 'type:contracts', 'type:util', 'type:testing'] },
        { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:data-access', 'type:contracts', 'type:util', 'type:testing'] },
        {
          sourceTag: 'type:contracts',
          onlyDependOnLibsWithTags: ['type:contracts', 'type:util'],
          bannedExternalImports: ['@nestjs/*', 'typeorm', '@nats-io/*', 'pg'],
        },
        { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
        { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:util', 'type:contracts', 'type:testing', 'type:data-access'] },
        { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
        { sourceTag: 'scope:ingest-gateway', onlyDependOnLibsWithTags: ['scope:ingest-gateway', 'scope:shared'] },
        { sourceTag: 'scope:normalizer', onlyDependOnLibsWithTags: ['scope:normalizer', 'scope:shared'] },
        { sourceTag: 'scope:orders', onlyDependOnLibsWithTags: ['scope:orders', 'scope:shared'] },
        { sourceTag: 'scope:saga-orchestrator', onlyDependOnLibsWithTags: ['scope:saga-orchestrator', 'scope:shared'] },
        { sourceTag: 'scope:lab', onlyDependOnLibsWithTags: ['scope:lab', 'scope:shared'] },
        { sourceTag: 'scope:notifications', onlyDependOnLibsWithTags: ['scope:notifications', 'scope:shared'] },
        { sourceTag: 'scope:billing', onlyDependOnLibsWithTags: ['scope:billing', 'scope:shared'] },
        { sourceTag: 'scope:external-sim', onlyDependOnLibsWithTags: ['scope:external-sim', 'scope:shared'] },
      ],
    },
  ],
};

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.mesh/**', '.nx/**', 'coverage/**', '**/*.mjs', '**/*.d.mts'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      ...boundaries,
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name=/^(it|describe|test)$/][callee.property.name='only']", message: 'no focused tests' },
      ],
      // a service may not reach into another project by a relative path (services talk through contracts)
      'no-restricted-imports': ['error', { patterns: [{ group: ['../../../*'], message: 'no imports across project roots' }] }],
    },
  },
  {
    // configuration is read in one place per service (house style §5)
    files: ['libs/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/config/**', 'libs/config/**', 'libs/observability/src/telemetry.ts', 'libs/testing/**'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'read configuration through the service config (libs/config)' }] },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
];
