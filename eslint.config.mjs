// @ts-check
/**
 * ESLint: typescript-eslint's recommended type-checked rules on every TS file it is given
 * (`npm run lint` gives it src and bench; test/ is left out for now: ~820 findings there,
 * mostly no-unsafe-* on JSON bodies), and the layer boundaries of src (who may import whom),
 * plus no import cycles in src (import-x/no-cycle; type-only imports are not followed).
 *
 * Boundaries use @typescript-eslint/no-restricted-imports, matched on the import's
 * specifier. In flat config a later object for the same rule REPLACES an earlier one for a
 * file, so each folder's full list (its own rules plus the src-wide ones) is built below
 * from the LAYERS table and emitted as exactly one config object per folder.
 *
 * Every folder glob also matches test/fixtures/lint/src/<same path>: the deliberately wrong
 * files there prove the rules fire (test/lint/boundaries.test.ts). The normal run ignores them.
 */
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** A path under src, as globs for the real tree and for the lint fixtures that mirror it. */
const at = (...paths) => paths.flatMap((p) => [`src/${p}`, `test/fixtures/lint/src/${p}`]);
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// ---- What an import specifier points at -------------------------------------------------
// Folders are matched on relative specifiers only (so `@opentelemetry/api` or
// `@temporalio/worker` never count as src/api or src/worker): any path segment named so.
/** Relative specifier with a segment named one of `names` (a folder of src or a file of src). */
const relTo = (...names) => `^\\.{1,2}/(?:.*/)?(?:${names.map(esc).join('|')})(?:/.*)?$`;
/** Relative specifier into src/workflows other than src/workflows/definitions. */
const WORKFLOWS_BUT_DEFINITIONS = '^\\.{1,2}/(?:.*/)?workflows(?:/(?!definitions$).*)?$';

/** One restricted pattern: a regex on the specifier, the reason, and whether `import type` passes. */
const forbid = (regex, message, { types = false } = {}) => ({ regex, message, allowTypeImports: types });

// ---- Reasons (every message says why) ---------------------------------------------------
const WHY = {
  api: 'src/api is the HTTP layer at the top: nothing below it may depend on it; move shared code down to src/services or src/domain',
  services: 'src/services holds business operations called by api/activities/ingest; a lower layer must not call up into it',
  ingest: 'src/ingest is the webhook pipeline (same layer as services); only src/api and the composition roots use it',
  activities: 'src/activities are Temporal activity implementations, registered by src/worker: call the operation in src/services (or src/db/queries) instead',
  workflows: 'src/workflows are run by the Temporal worker in its sandbox: start them by name through src/workflows/definitions, and import their types with `import type`',
  providers: 'src/providers is the WhatsApp provider layer; only services, activities, ingest and the composition roots use it',
  cli: 'src/cli is a composition root (the command line): nothing may import it',
  roots: 'src/worker and src/runtime are composition roots that wire everything together: nothing inside src may import them',
  temporal: 'src/temporal is the Temporal connection/dev-server plumbing; providers must not depend on the workflow engine',
  temporalDb: 'src/temporal is Temporal plumbing, not a data layer: it must not reach the database (src/db); let its caller pass the data in',
  dbOnly: 'src/db is the bottom data layer: it may import only src/db, src/domain, src/config and src/log',
  domain: 'src/domain is pure (deterministic, no I/O): it may import only other src/domain files and the packages zod, @temporalio/common and re2js',
  workflowRuntime:
    'workflow code must stay deterministic and bundle-safe: at runtime it may import only @temporalio/workflow, @temporalio/common, re2js, src/domain and src/workflows; anything else only as `import type` (do the work in an activity)',
  drizzle: 'SQL lives in src/db only: call a query function from src/db/queries (types other layers need are re-exported there or live in src/domain)',
  schema: 'the table schema is private to src/db: call a query function from src/db/queries and use the row types it re-exports (or src/domain), even for types',
  httpHelper: 'only src/providers calls a WhatsApp provider\'s HTTP API: src/providers/http is its private helper; go through a provider client',
  outboundHttp: 'only src/providers makes outbound HTTP calls (to the WhatsApp providers): go through a provider client instead of undici/https',
  nodeHttp: 'node:http is for the HTTP server (src/api) and the provider clients (src/providers) only',
  fetch: 'only src/providers makes outbound HTTP calls (to the WhatsApp providers): go through a provider client in src/providers instead of the global fetch',
};

// ---- Rules every src file gets unless its folder is the exception -----------------------
const NO_DRIZZLE = [
  forbid('^drizzle-orm(?:/.*)?$', WHY.drizzle),
  // `../schema` etc. only reaches the schema from inside src/db, which is exempt.
  forbid(relTo('db/schema'), WHY.schema),
];
const NO_HTTP_HELPER = [forbid('^\\.{1,2}/(?:.*/)?providers/http$', WHY.httpHelper)];
const NO_OUTBOUND_HTTP = [forbid('^(?:undici|node:https|https)(?:/.*)?$', WHY.outboundHttp)];
const NO_NODE_HTTP = [forbid('^(?:node:)?http$', WHY.nodeHttp)];

/** The src-wide patterns for a folder, by which exceptions it is. */
function srcWide({ db = false, providers = false, api = false } = {}) {
  return [
    ...(db ? [] : NO_DRIZZLE),
    ...(providers ? [] : [...NO_HTTP_HELPER, ...NO_OUTBOUND_HTTP]),
    ...(providers || api ? [] : NO_NODE_HTTP),
  ];
}

/** Packages allowed at runtime in src/workflows / src/domain; any other non-relative specifier is restricted. */
const notPackages = (...allowed) => `^(?!\\.{1,2}/|(?:${allowed.join('|')})$)`;

// ---- The layer table: folder -> forbidden imports ---------------------------------------
const LAYERS = [
  {
    name: 'composition roots (cli, worker, runtime)',
    files: at('cli/**', 'worker.ts', 'runtime.ts'),
    patterns: srcWide(),
  },
  {
    name: 'api',
    files: at('api/**'),
    patterns: [
      forbid(relTo('activities'), WHY.activities),
      forbid(WORKFLOWS_BUT_DEFINITIONS, WHY.workflows, { types: true }),
      forbid(relTo('cli'), WHY.cli),
      forbid(relTo('worker', 'runtime'), WHY.roots),
      ...srcWide({ api: true }),
    ],
  },
  {
    name: 'services and ingest',
    files: at('services/**', 'ingest/**'),
    patterns: [
      forbid(relTo('api'), WHY.api),
      forbid(relTo('activities'), WHY.activities),
      forbid(WORKFLOWS_BUT_DEFINITIONS, WHY.workflows, { types: true }),
      forbid(relTo('cli'), WHY.cli),
      forbid(relTo('worker', 'runtime'), WHY.roots),
      ...srcWide(),
    ],
  },
  {
    name: 'activities',
    files: at('activities/**'),
    patterns: [
      forbid(relTo('api'), WHY.api),
      forbid(relTo('ingest'), WHY.ingest),
      forbid(WORKFLOWS_BUT_DEFINITIONS, WHY.workflows, { types: true }),
      forbid(relTo('cli'), WHY.cli),
      forbid(relTo('worker', 'runtime'), WHY.roots),
      ...srcWide(),
    ],
  },
  {
    name: 'providers',
    files: at('providers/**'),
    patterns: [
      forbid(relTo('api'), WHY.api),
      forbid(relTo('services'), WHY.services),
      forbid(relTo('activities'), WHY.activities),
      forbid(relTo('ingest'), WHY.ingest),
      forbid(relTo('workflows'), WHY.workflows, { types: true }),
      forbid(relTo('cli'), WHY.cli),
      forbid(relTo('temporal'), WHY.temporal),
      forbid(relTo('worker', 'runtime'), WHY.roots),
      ...srcWide({ providers: true }),
    ],
  },
  {
    name: 'db',
    files: at('db/**'),
    patterns: [
      forbid(relTo('api', 'services', 'ingest', 'activities', 'workflows', 'providers', 'temporal', 'cli', 'metrics', 'worker', 'runtime'), WHY.dbOnly),
      ...srcWide({ db: true }),
    ],
  },
  {
    name: 'temporal',
    files: at('temporal/**'),
    patterns: [
      forbid(relTo('api', 'services', 'activities', 'ingest', 'providers', 'cli', 'worker', 'runtime'),
        'src/temporal is Temporal plumbing (connection, dev server, search attributes) below the business layers: it must not depend on them'),
      forbid(relTo('db'), WHY.temporalDb),
      ...srcWide(),
    ],
  },
  {
    name: 'domain',
    files: at('domain/**'),
    patterns: [
      // re2js: tenant regexes run in workflows on a linear-time engine (src/domain/safeRegex.ts);
      // it is pure JS with no dependencies and no Node built-ins, so it bundles into the sandbox.
      forbid(notPackages('zod', '@temporalio/common(?:/.*)?', 're2js'), WHY.domain),
      forbid(relTo('api', 'services', 'ingest', 'activities', 'workflows', 'providers', 'temporal', 'cli', 'db', 'config', 'log', 'metrics', 'worker', 'runtime'), WHY.domain),
      ...srcWide(),
    ],
  },
  {
    name: 'workflows',
    files: at('workflows/**'),
    patterns: [
      // The drizzle/schema rules come first: they hold even for `import type`.
      ...srcWide(),
      // re2js for the same reason as in src/domain (linear-time tenant regexes, sandbox-safe).
      forbid(notPackages('@temporalio/workflow(?:/.*)?', '@temporalio/common(?:/.*)?', 're2js'), WHY.workflowRuntime, { types: true }),
      forbid(relTo('api', 'services', 'ingest', 'activities', 'providers', 'temporal', 'cli', 'db', 'config', 'log', 'metrics', 'worker', 'runtime'), WHY.workflowRuntime, { types: true }),
    ],
  },
];

const TS_FILES = ['**/*.ts', '**/*.mts', '**/*.cts'];

export default defineConfig(
  {
    name: 'zapflow/ignores',
    ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.tools/**', '.data/**', 'drizzle/**', 'test/fixtures/lint/**'],
  },

  // ---- Type-checked rules: src, bench, test ----
  {
    name: 'zapflow/typescript',
    files: TS_FILES,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A leading underscore says "unused on purpose" (Express tells error handlers by their
      // four parameters; a rest element that drops a key).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },

  // ---- Boundaries: src only (and the fixtures that mirror it) ----
  {
    name: 'zapflow/src-wide',
    files: at('**/*.ts'),
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: import.meta.dirname + '/tsconfig.json' })],
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      // Base rule for src files outside every folder of the table (config.ts, log.ts, ...).
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: srcWide() }],
      // Type-only imports are not followed (import-x/no-cycle skips `import type` and
      // imports whose every specifier is `type`), since they vanish at runtime.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'no-restricted-globals': ['error', { name: 'fetch', message: WHY.fetch }],
      'no-restricted-properties': [
        'error',
        { object: 'globalThis', property: 'fetch', message: WHY.fetch },
        { object: 'global', property: 'fetch', message: WHY.fetch },
      ],
    },
  },
  ...LAYERS.map(({ name, files, patterns }) => /** @type {import('eslint').Linter.Config} */ ({
    name: `zapflow/boundaries/${name}`,
    files,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
  })),
  {
    name: 'zapflow/providers-may-fetch',
    files: at('providers/**'),
    rules: { 'no-restricted-globals': 'off', 'no-restricted-properties': 'off' },
  },
);
