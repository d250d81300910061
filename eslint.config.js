// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The model is pure: it runs in the browser and gives the same output on any machine. It may not
 * import Node built-ins, the kernel door (`sys/`), the live backend (`live/`) or any face.
 * (DESIGN.md: "model/ imports nothing from Node, sys/, live/ or any face".)
 */
const modelPurity = {
  // The model and the instruction encoder are pure: they run anywhere, a browser included.
  files: ['src/model/**/*.ts', 'src/asm/**/*.ts', 'src/btf/**/*.ts', 'src/elf/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: builtinModules.map((name) => ({
          name,
          message: 'src/model is pure: no Node built-ins (read the machine in src/sys).',
        })),
        patterns: [
          { group: ['node:*'], message: 'src/model is pure: no Node built-ins (read the machine in src/sys).' },
          { group: ['koffi', 'koffi/*'], message: 'src/model is pure: FFI belongs to src/sys.' },
          {
            group: ['**/sys', '**/sys/*', '**/live', '**/live/*', '**/cli', '**/cli/*', '**/server', '**/server/*', '**/web', '**/web/*', '**/bin/*'],
            message: 'src/model may not depend on the kernel door, the live backend or a face.',
          },
        ],
      },
    ],
    'no-restricted-globals': [
      'error',
      { name: 'process', message: 'src/model is pure: take what you need as a parameter.' },
      { name: 'Buffer', message: 'src/model is pure: use Uint8Array.' },
      { name: '__dirname', message: 'src/model is pure.' },
    ],
  },
};

/** Only bin/ ends the process (DESIGN.md: "Only bin/ calls process.exit"). */
const exitOnlyInBin = {
  files: ['src/**/*.ts'],
  ignores: ['src/bin/**'],
  rules: {
    'no-restricted-properties': [
      'error',
      { object: 'process', property: 'exit', message: 'Only src/bin/ calls process.exit; return an exit code.' },
    ],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['eslint.config.js', 'scripts/**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  modelPurity,
  exitOnlyInBin,
);
