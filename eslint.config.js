// Lint rules for mdc's TypeScript: the recommended sets of ESLint and typescript-eslint,
// with the few rules this codebase deliberately departs from turned off (see each line).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'playground/dist/**', 'node_modules/**', 'test/cases/**', 'bench/results/**', '**/*.wgsl'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Non-null assertions on indexed access are how the code states an invariant under noUncheckedIndexedAccess.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `let k = 1; a ? ins[k++] : …; b ? ins[k++] : …` walks optional inputs; the last increment is the idiom, not a bug.
      'no-useless-assignment': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests tamper with parsed JSON plans field by field.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
