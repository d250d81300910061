// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/*
 * The floor plan of src/ (docs/architecture.md), enforced: each layer may import only the layers
 * below it, and no file takes part in an import cycle. test/lint/layers.test.ts proves that every
 * rule bites.
 *
 *   faces        cli/ server/ bin/ web/          argv, HTTP, rendering; no face imports another (bin/ wires them)
 *   use cases    scenario/ simulate/ estimate/ explain/ inspect/ conformance/ lab/ demo/ watch/
 *   live/        the machine in the model's terms: host profile, probes, collector, live backend
 *   model/ sys/  the pure accounting model; the dumb kernel door (koffi in sys/bpf/ only)
 *   vocabulary   vocab/ and the pure libraries btf/ asm/ elf/: imported by all, importing nothing above
 */

const USE_CASES = ['scenario', 'simulate', 'estimate', 'explain', 'inspect', 'conformance', 'lab', 'demo', 'watch'];
const FACES = ['cli', 'server', 'bin', 'web'];

/** Import patterns for whole folders of src/ (`../sys/proc/host.js` is matched by `**\/sys`). */
const folders = (/** @type {string[]} */ names) => names.flatMap((n) => [`**/${n}`, `**/${n}/**`]);

const NODE = [
  ...builtinModules.map((name) => ({ name, message: 'pure code: no Node built-ins (the machine is read in src/sys).' })),
];
const NODE_PATTERN = { group: ['node:*'], message: 'pure code: no Node built-ins (the machine is read in src/sys).' };
/** Above src/sys, each part of the kernel door is entered through its index.ts. */
const SYS_INDEX = {
  group: ['**/sys/*/*', '!**/sys/*/index.js'],
  message: 'import src/sys/<part>/ through its index.ts (sys/bpf, sys/cgroup, sys/proc, sys/iter, sys/file, sys/trace).',
};
const KOFFI = { group: ['koffi', 'koffi/*'], message: 'koffi (FFI) is imported only in src/sys/bpf/.' };

/**
 * What the model and scenarios may not reach for: the same input gives the same output, so no
 * clock, no timer and no randomness (a time or a seed is a parameter).
 */
const DETERMINISTIC_GLOBALS = ['Date', 'performance', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'crypto'].map((name) => ({
  name,
  message: 'the model is deterministic: take a time, a seed or a callback as a parameter.',
}));
const DETERMINISTIC_PROPERTIES = [
  { object: 'Math', property: 'random', message: 'the model is deterministic: take a seed as a parameter.' },
  ...['process', 'Buffer', 'Date', 'performance', 'setTimeout', 'setInterval', 'crypto', 'require'].map((property) => ({
    object: 'globalThis',
    property,
    message: 'pure, deterministic code: take what you need as a parameter.',
  })),
];

/**
 * One layer's rule: `no-restricted-imports` with the folders it may not import, and (for pure
 * layers) no Node built-ins and no `process`/`Buffer`.
 */
function layer(/** @type {{ files: string[], ignores?: string[], forbid: string[], why: string, pure?: boolean, deterministic?: boolean, koffi?: boolean, throughSysIndex?: boolean }} */ spec) {
  const patterns = [{ group: folders(spec.forbid), message: spec.why }];
  if (spec.throughSysIndex) patterns.push(SYS_INDEX);
  if (spec.pure) patterns.push(NODE_PATTERN);
  if (!spec.koffi) patterns.push(KOFFI);
  return {
    files: spec.files,
    ...(spec.ignores && { ignores: spec.ignores }),
    rules: {
      'no-restricted-imports': ['error', { ...(spec.pure && { paths: NODE }), patterns }],
      ...(spec.pure && {
        'no-restricted-globals': [
          'error',
          { name: 'process', message: 'pure code: take what you need as a parameter.' },
          { name: 'Buffer', message: 'pure code: use Uint8Array.' },
          { name: '__dirname', message: 'pure code has no file system.' },
          ...(spec.deterministic ? DETERMINISTIC_GLOBALS : []),
        ],
      }),
    },
  };
}

const layers = [
  layer({
    files: ['src/vocab/**/*.ts'],
    forbid: ['model', 'sys', 'live', 'asm', 'elf', ...USE_CASES, ...FACES],
    why: 'src/vocab is the bottom layer: it imports only itself and the BTF reader.',
    pure: true,
  }),
  layer({
    files: ['src/btf/**/*.ts', 'src/asm/**/*.ts', 'src/elf/**/*.ts'],
    forbid: ['model', 'sys', 'live', ...USE_CASES, ...FACES],
    why: 'the libraries (btf, asm, elf) are pure and import only the vocabulary and each other.',
    pure: true,
  }),
  layer({
    files: ['src/model/**/*.ts'],
    forbid: ['sys', 'live', 'asm', 'elf', ...USE_CASES, ...FACES],
    why: 'src/model is pure: it may not depend on the kernel door, the live side, a use case or a face.',
    pure: true,
    deterministic: true,
  }),
  ...[false, true].map((bpf) =>
    layer({
      files: [bpf ? 'src/sys/bpf/**/*.ts' : 'src/sys/**/*.ts'],
      ...(!bpf && { ignores: ['src/sys/bpf/**'] }),
      forbid: ['model', 'live', ...USE_CASES, ...FACES],
      why: 'src/sys is a dumb door to the kernel: it imports nothing of the project above it (vocab, btf and asm only).',
      koffi: bpf,
    }),
  ),
  layer({
    files: ['src/live/**/*.ts'],
    forbid: [...USE_CASES, ...FACES],
    throughSysIndex: true,
    why: 'src/live composes sys into the model\'s terms; it may not import a use case or a face.',
  }),
  layer({
    files: USE_CASES.map((u) => `src/${u}/**/*.ts`),
    ignores: ['src/scenario/**'],
    forbid: FACES,
    throughSysIndex: true,
    why: 'a use case may not import a face: faces call use cases.',
  }),
  layer({
    files: ['src/scenario/**/*.ts'],
    forbid: ['sys', 'live', 'asm', 'elf', ...USE_CASES.filter((u) => u !== 'scenario'), ...FACES],
    why: "scenarios are pure (`bpfmem/scenario` runs in a browser): the model and the vocabulary only.",
    pure: true,
    deterministic: true,
  }),
  layer({ files: ['src/cli/**/*.ts'], forbid: ['server', 'bin', 'web'], throughSysIndex: true, why: 'no face imports another face (src/bin wires them).' }),
  layer({ files: ['src/server/**/*.ts'], forbid: ['cli', 'bin', 'web'], throughSysIndex: true, why: 'no face imports another face (src/bin wires them).' }),
  layer({
    files: ['web/src/**/*.ts'],
    forbid: ['sys', 'live', 'cli', 'server', 'bin', 'lab', 'conformance'],
    why: 'the dashboard runs in a browser: the model, the vocabulary and pure use cases only.',
    pure: true,
  }),
];

/**
 * No `import()` of a Node module in src/: the CLI's bundle is compiled through its code cache
 * (src/bin/compile-cache.ts), where a dynamic import has no loader and throws. A module loaded
 * only when needed is `process.getBuiltinModule('node:…')`.
 */
const noDynamicBuiltinImport = {
  files: ['src/**/*.ts'],
  ignores: ['src/**/*.test.ts'],
  rules: {
    'no-restricted-syntax': [
      'error',
      {
        selector: 'ImportExpression > Literal[value=/^node:/]',
        message: "import('node:…') fails under the CLI's code cache; use process.getBuiltinModule('node:…').",
      },
    ],
  },
};

/** Only bin/ ends the process. */
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

/** The model and scenarios: no randomness, and no global reached around the rules through globalThis (with process.exit's rule, which this replaces there). */
const deterministic = {
  files: ['src/model/**/*.ts', 'src/scenario/**/*.ts'],
  ignores: ['src/**/*.test.ts'],
  rules: {
    'no-restricted-properties': ['error', ...exitOnlyInBin.rules['no-restricted-properties'].slice(1), ...DETERMINISTIC_PROPERTIES],
  },
};

/** No import cycle between files (and so none between folders). */
const noCycles = {
  files: ['src/**/*.ts', 'web/src/**/*.ts'],
  plugins: { 'import-x': importX },
  settings: {
    'import-x/extensions': ['.ts', '.js'],
    'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['tsconfig.json', 'web/tsconfig.app.json'], noWarnOnMultipleProjects: true })],
  },
  rules: {
    'import-x/no-cycle': ['error', { ignoreExternal: true }],
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
  ...layers,
  exitOnlyInBin,
  deterministic,
  noDynamicBuiltinImport,
  noCycles,
  // Tests exercise a layer from outside: they may reach into any of it.
  { files: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': 'off', 'no-restricted-globals': 'off' } },
);
