// Lint rules. The import boundaries are the important part: each service may use common/ and
// schemas/ but never another service, so every service can be deployed and scaled on its own.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const services = ['ingest', 'aggregator', 'rewards', 'payouts'];

const boundaries = services.map((svc) => ({
  files: [`${svc}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: services
          .filter((s) => s !== svc)
          .map((other) => ({
            group: [`**/${other}/*`, `**/${other}`],
            message: `${svc}/ must not import ${other}/: services share only common/ and schemas/.`,
          })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/', '.stack/', 'schemas/gen/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through common/config.ts in main.ts, not process.env.',
        },
      ],
    },
  },
  // Only entry points and tooling may read the environment.
  {
    files: ['**/main.ts', '**/*-main.ts', 'stack/**', 'test/**', 'bench/**', '**/*.test.ts', '**/test-support.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  ...boundaries,
);
