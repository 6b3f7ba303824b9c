/**
 * Proof that the layer boundaries of eslint.config.mjs fire: ESLint's Node API lints the
 * deliberately wrong files under test/fixtures/lint/src (which mirror src/ and get the same
 * rules), and each must fail with the expected rule and a message that says why. The
 * `allowed*` fixtures must pass the boundary rules.
 */
import path from 'node:path';
import { ESLint, type Linter } from 'eslint';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = 'test/fixtures/lint/src';
const BOUNDARY_RULES = ['@typescript-eslint/no-restricted-imports', 'no-restricted-globals', 'no-restricted-properties', 'import-x/no-cycle'];

let byFile: Map<string, Linter.LintMessage[]>;

beforeAll(async () => {
  // `ignore: false`: the normal lint run ignores test/fixtures/lint/**.
  const eslint = new ESLint({ cwd: ROOT, ignore: false });
  const results = await eslint.lintFiles([FIXTURES]);
  byFile = new Map(results.map((r) => [path.relative(path.join(ROOT, FIXTURES), r.filePath), r.messages]));
}, 180_000);

function messagesOf(file: string): Linter.LintMessage[] {
  const messages = byFile.get(file);
  if (!messages) throw new Error(`${file} was not linted (linted: ${[...byFile.keys()].join(', ')})`);
  const fatal = messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`${file} did not parse: ${fatal.map((m) => m.message).join('; ')}`);
  return messages;
}

/** The one boundary finding of a fixture: rule id, the import's line, and the reason in its message. */
function expectViolation(file: string, ruleId: string, reason: RegExp, line?: number): void {
  const found = messagesOf(file).filter((m) => BOUNDARY_RULES.includes(m.ruleId ?? ''));
  expect(found.map((m) => m.ruleId)).toEqual([ruleId]);
  expect(found[0]!.message).toMatch(reason);
  if (line !== undefined) expect(found[0]!.line).toBe(line);
}

describe('layer boundaries (eslint.config.mjs)', () => {
  it('workflows: no runtime import from src/activities', () => {
    expectViolation('workflows/importsActivity.ts', '@typescript-eslint/no-restricted-imports', /deterministic.*only as `import type`/, 2);
  });

  it('workflows: no node: built-ins at runtime', () => {
    expectViolation('workflows/importsNodeBuiltin.ts', '@typescript-eslint/no-restricted-imports', /deterministic/, 2);
  });

  it('workflows: `import type` from activities, @temporalio/workflow and src/domain are allowed', () => {
    const found = messagesOf('workflows/allowedTypeImport.ts').filter((m) => BOUNDARY_RULES.includes(m.ruleId ?? ''));
    expect(found).toEqual([]);
  });

  it('services: no drizzle-orm outside src/db', () => {
    expectViolation('services/usesDrizzle.ts', '@typescript-eslint/no-restricted-imports', /SQL lives in src\/db only.*src\/db\/queries/, 2);
  });

  it('api: no db schema outside src/db, not even `import type`', () => {
    expectViolation('api/importsSchema.ts', '@typescript-eslint/no-restricted-imports', /schema is private to src\/db.*even for types/, 2);
  });

  it('services: no global fetch outside src/providers', () => {
    expectViolation('services/callsFetch.ts', 'no-restricted-globals', /only src\/providers makes outbound HTTP calls/, 3);
  });

  it('providers: may call fetch', () => {
    const found = messagesOf('providers/http.ts').filter((m) => BOUNDARY_RULES.includes(m.ruleId ?? ''));
    expect(found).toEqual([]);
  });

  it('services: no import of the providers HTTP helper', () => {
    expectViolation('services/importsProviderHttp.ts', '@typescript-eslint/no-restricted-imports', /src\/providers\/http is its private helper/, 2);
  });

  it('services: no node:https outside src/providers', () => {
    expectViolation('services/importsHttps.ts', '@typescript-eslint/no-restricted-imports', /only src\/providers makes outbound HTTP calls/, 2);
  });

  it('services: workflows only through src/workflows/definitions or `import type`', () => {
    expectViolation('services/importsWorkflow.ts', '@typescript-eslint/no-restricted-imports', /src\/workflows\/definitions.*`import type`/, 3);
  });

  it('activities: no import of the HTTP layer', () => {
    expectViolation('activities/importsApi.ts', '@typescript-eslint/no-restricted-imports', /src\/api is the HTTP layer/, 2);
  });

  it('db: imports only src/db, src/domain, src/config, src/log', () => {
    expectViolation('db/importsApi.ts', '@typescript-eslint/no-restricted-imports', /src\/db is the bottom data layer/, 2);
  });

  it('domain: pure, not even a type from src/config', () => {
    expectViolation('domain/importsConfig.ts', '@typescript-eslint/no-restricted-imports', /src\/domain is pure/, 2);
  });

  it('no import cycles', () => {
    expectViolation('services/cycleA.ts', 'import-x/no-cycle', /Dependency cycle/, 2);
    expectViolation('services/cycleB.ts', 'import-x/no-cycle', /Dependency cycle/, 2);
  });

  it('every fixture is covered by a case above', () => {
    expect([...byFile.keys()].sort()).toEqual([
      'activities/importsApi.ts',
      'api/importsSchema.ts',
      'db/importsApi.ts',
      'domain/importsConfig.ts',
      'providers/http.ts',
      'services/callsFetch.ts',
      'services/cycleA.ts',
      'services/cycleB.ts',
      'services/importsHttps.ts',
      'services/importsProviderHttp.ts',
      'services/importsWorkflow.ts',
      'services/usesDrizzle.ts',
      'workflows/allowedTypeImport.ts',
      'workflows/importsActivity.ts',
      'workflows/importsNodeBuiltin.ts',
    ]);
  });
});
