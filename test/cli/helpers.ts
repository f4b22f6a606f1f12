// Shared by the CLI process tests: run the BUILT `i2f` (dist/cli.js) as a child process, make temp workspaces,
// and validate reports against the audit's JSON schema and the official SARIF 2.1.0 schema.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { built } from '../support/builtProduct';

export const REPO = resolve(__dirname, '../..');

/**
 * The CLI bundle every run in this test process uses: a frozen copy of dist/ (test/support/builtProduct.ts), built
 * first when dist/ has none (running one file by hand), so a rebuild in the worktree cannot change the build between
 * a test's first run and the run that expects the first one's cached results.
 */
export function ensureBuilt(): string {
  return built('cli.js');
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const env = { ...process.env, NO_COLOR: '1', ...(options.env ?? {}) };
    delete (env as Record<string, string | undefined>).FORCE_COLOR;
    const child = spawn(process.execPath, [ensureBuilt(), ...args], { cwd: options.cwd ?? REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`i2f ${args.join(' ')} timed out after ${options.timeoutMs} ms\n${stderr}`));
    }, options.timeoutMs ?? 20 * 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** A temp folder with `files` (relative path → content); `examples: true` copies examples/ first. */
export function workspace(files: Record<string, string | Buffer>, opts: { examples?: boolean; prefix?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'i2f-audit-'));
  if (opts.examples) cpSync(join(REPO, 'examples'), dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

/** One sample per config (batch 1): the fastest analyses that still exercise everything. */
export const FAST_SETTINGS = JSON.stringify({ maxSamples: 1, thresholds: { high: 20, medium: 12 }, targetPsnr: 15, damping: 0 });

let ajvJson: ReturnType<typeof makeAjv> | undefined;
function makeAjv() {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv;
}

export function validateAuditJson(doc: unknown): string[] {
  ajvJson ??= makeAjv();
  const schema = JSON.parse(readFileSync(join(REPO, 'docs/audit-json.schema.json'), 'utf8'));
  const validate = ajvJson.getSchema(schema.$id) ?? ajvJson.compile(schema);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

let ajvSarif: ReturnType<typeof makeAjv> | undefined;
/** The official SARIF 2.1.0 schema as Microsoft's SARIF SDK ships it (test/data/sarif/SOURCE.md). */
export function validateSarif(doc: unknown): string[] {
  ajvSarif ??= makeAjv();
  const schema = JSON.parse(readFileSync(join(REPO, 'test/data/sarif/sarif-schema-2.1.0.json'), 'utf8'));
  const id = 'sarif-2.1.0';
  const validate = ajvSarif.getSchema(id) ?? (ajvSarif.addSchema(schema, id), ajvSarif.getSchema(id)!);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

/**
 * `i2f audit WS --format json` with Debian's Python building the workspace's models, into a fresh cache (returned): the schema-valid
 * report's first root, and lookups by file (a config, the findings of one code, a line of a file as written).
 */
export async function auditWithPython(ws: string, cachePrefix: string) {
  const cache = mkdtempSync(join(tmpdir(), cachePrefix));
  const r = await runCli(['audit', ws, '--format', 'json', '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(validateAuditJson(json), []);
  const root = json.roots[0];
  return {
    root,
    /** The cache the audit filled (a second run there answers from it). */
    cache,
    config: (file: string) => root.configs.find((c: any) => c.file === file),
    findings: (file: string, code: string): any[] => root.findings.filter((f: any) => f.file === file && f.code === code),
    lineOf: (file: string, line: number) => readFileSync(join(ws, file), 'utf8').split('\n')[line - 1],
  };
}
