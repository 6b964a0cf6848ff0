// Workflows must stay deterministic: no Node built-ins, no database, no provider SDKs.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'crypto',
  'http',
  'https',
  'net',
  'os',
  'child_process',
  'worker_threads',
  'dns',
  'tls',
  'zlib',
  'stream',
  'util',
  'events',
  'timers',
];
const forbiddenInWorkflows = [
  ...nodeBuiltins,
  ...nodeBuiltins.map((m) => `node:${m}`),
  'knex',
  'pg',
  'stripe',
  'coinbase-commerce-node',
  'twilio',
  '@sendgrid/mail',
  'ethers',
  'express',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.data/**',
      'coverage/**',
      'bench/results/**',
      'contracts/build/**',
      '*.js',
      '*.mjs',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows.map((name) => ({
            name,
            message: 'Workflows are deterministic: side effects belong in activities.',
          })),
          patterns: [
            {
              group: ['../activities/*', '../providers/*', '../db/*', '../api/*', '../workers/*', '../config/*'],
              allowTypeImports: true,
              message: 'Workflows import only types from these layers.',
            },
          ],
        },
      ],
    },
  },
);
