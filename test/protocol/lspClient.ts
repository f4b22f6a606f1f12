// A small LSP client for protocol tests: spawns the BUILT server (dist/server.js --stdio, from this test process's
// frozen copy of dist/: test/support/builtProduct.ts) on a copy of examples/,
// answers workspace/configuration from a settings object the test controls, and collects diagnostics.
// LSP types and the stream connection come from vscode-languageserver/node, which re-exports vscode-languageserver-protocol/node
// (that package's exports-only layout does not type-check under this repository's moduleResolution: node).

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-languageserver/node';
import type { Diagnostic, PublishDiagnosticsParams } from 'vscode-languageserver';
import type { JobTraceParams, StatusParams } from '../../server/src/protocol';
import { built } from '../support/builtProduct';

export const REPO = resolve(__dirname, '../..');

/**
 * How long waitFor / waitForDiagnostics wait by default. A hang detector, not a speed check (speed lives in
 * `npm run bench`; the evidence that an answer came from the cache is its fromCache flag and the job counters): it
 * sits below the protocol tests' own timeouts (180–300 s) so a hang fails with the server's log rather than
 * node:test's bare timeout. Measured: the analysis scheduling.test.ts waits for after an edit took 11 s at load 12
 * and 50 s at load 14–17 on this 2-core machine (the test niced); the 60 s this replaced was within 20% of that.
 */
export const WAIT_MS = 150_000;

/** How long close() waits for an answer to shutdown, and then for the process to end, before killing it. */
const HUNG_SERVER_MS = 60_000;

/** Settings the tests run with: one sample (batch 1) keeps the MLP analysis around a second. */
export const TEST_SETTINGS = {
  enable: true,
  thresholds: { high: 20, medium: 12 },
  damping: 0,
  maxSamples: 1,
  maxModelSizeMB: 512,
  workerCount: 1,
  trace: { server: 'verbose' },
  targetPsnr: 15,
  // The provisional I2F001 while a solve runs (test/protocol/band.test.ts turns it on): the other tests wait for the
  // finished finding.
  provisionalFindings: false,
};

export interface Session {
  workspace: string;
  connection: MessageConnection;
  server: ChildProcess;
  settings: Record<string, unknown>;
  /** Latest diagnostics per URI. */
  diagnostics: Map<string, Diagnostic[]>;
  /** Every publishDiagnostics, in the order they arrived. */
  published: PublishDiagnosticsParams[];
  traces: JobTraceParams[];
  /** Work-done progress the server reported ($/progress values, in order). */
  progress: { token: string | number; value: { kind: string; title?: string; message?: string; cancellable?: boolean } }[];
  statuses: StatusParams[];
  messages: { type: number; message: string }[];
  log: string[];
  uri: (relative: string) => string;
  path: (relative: string) => string;
  waitForDiagnostics: (uri: string, predicate: (d: Diagnostic[]) => boolean, timeoutMs?: number) => Promise<Diagnostic[]>;
  waitFor: <T>(what: string, probe: () => T | undefined | false, timeoutMs?: number) => Promise<T>;
  open: (relative: string, text?: string) => string;
  change: (uri: string, version: number, text: string) => void;
  /** notebookDocument/didOpen of a .ipynb in the workspace: all its cells, as VS Code's client sends them. */
  openNotebook: (relative: string) => OpenNotebook;
  /** notebookDocument/didChange: one cell's text replaced whole (`cell` indexes all the notebook's cells). */
  changeCell: (nb: OpenNotebook, cell: number, text: string) => void;
  /** notebookDocument/didChange: a Python code cell inserted before `cell` (at the end when cell = cells.length). */
  insertCell: (nb: OpenNotebook, cell: number, text: string) => void;
  /** notebookDocument/didClose. */
  closeNotebook: (nb: OpenNotebook) => void;
  close: () => Promise<void>;
}

/** A notebook the test client has open: its URI and its cells (kept current by the helpers). */
export interface OpenNotebook {
  uri: string;
  version: number;
  cells: NotebookCellDoc[];
}

export interface NotebookCellDoc {
  uri: string;
  /** Code cells are Python, as VS Code's ipynb serializer makes them for a Python notebook. */
  kind: 'code' | 'markdown';
  text: string;
  version: number;
}

/** The cells of an .ipynb (nbformat 4: `source` a string or a list of lines); raw cells as markdown. */
export function cellsOf(ipynb: string): { kind: 'code' | 'markdown'; text: string }[] {
  const nb = JSON.parse(ipynb) as { cells: { cell_type: string; source: string | string[] }[] };
  return nb.cells.map((c) => ({ kind: c.cell_type === 'code' ? 'code' : 'markdown', text: Array.isArray(c.source) ? c.source.join('') : c.source }));
}

const cellKind = (c: NotebookCellDoc) => (c.kind === 'code' ? 2 : 1);
const cellItem = (c: NotebookCellDoc) => ({ uri: c.uri, languageId: c.kind === 'code' ? 'python' : 'markdown', version: c.version, text: c.text });

export interface StartOptions {
  settings?: Record<string, unknown>;
  initializationOptions?: Record<string, unknown>;
  /** Prepare the temp workspace before the server starts. */
  prepare?: (workspace: string) => void;
}

export async function startServer(options: StartOptions = {}): Promise<Session> {
  const workspace = mkdtempSync(join(tmpdir(), 'i2f-protocol-'));
  cpSync(join(REPO, 'examples'), workspace, { recursive: true });
  options.prepare?.(workspace);
  const storage = join(workspace, '.i2f-storage');
  const server = spawn(process.execPath, [built('server.js'), '--stdio'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  server.stderr!.on('data', (d) => stderr.push(String(d)));
  const connection = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  const settings: Record<string, unknown> = { ...TEST_SETTINGS, ...(options.settings ?? {}) };
  const diagnostics = new Map<string, Diagnostic[]>();
  const cellSeq = new WeakMap<OpenNotebook, () => string>();
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  const session: Session = {
    workspace,
    connection,
    server,
    settings,
    diagnostics,
    published: [],
    traces: [],
    progress: [],
    statuses: [],
    messages: [],
    log: [],
    uri: (rel) => pathToFileURL(join(workspace, rel)).href,
    path: (rel) => join(workspace, rel),
    waitFor: (what, probe, timeoutMs = WAIT_MS) =>
      new Promise((resolvePromise, reject) => {
        const check = () => {
          const v = probe();
          if (v !== undefined && v !== false) {
            cleanup();
            resolvePromise(v as any);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nserver log:\n${session.log.slice(-30).join('\n')}\n${stderr.join('')}`));
        }, timeoutMs);
        const poll = setInterval(check, 20);
        const cleanup = () => {
          clearTimeout(timer);
          clearInterval(poll);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    waitForDiagnostics: (uri, predicate, timeoutMs) =>
      session.waitFor(`diagnostics of ${uri}`, () => {
        const d = diagnostics.get(uri);
        return d && predicate(d) ? d : undefined;
      }, timeoutMs),
    open: (rel, text) => {
      const uri = session.uri(rel);
      const languageId = rel.endsWith('.json') ? 'json' : rel.endsWith('.toml') ? 'toml' : rel.endsWith('.py') ? 'python' : 'yaml';
      void connection.sendNotification('textDocument/didOpen', {
        textDocument: { uri, languageId, version: 1, text: text ?? readFileSync(session.path(rel), 'utf8') },
      });
      return uri;
    },
    change: (uri, version, text) => {
      void connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    },
    // Cell URIs as VS Code makes them: the notebook's path in the vscode-notebook-cell scheme, a fragment per cell.
    // Every cell is sent, markdown too (the server's notebookSelector names no cell language: it counts cells as
    // Jupyter does).
    openNotebook: (rel) => {
      const uri = session.uri(rel);
      const cellUri = (k: number) => `vscode-notebook-cell:${new URL(uri).pathname}#C${k}`;
      let next = 0;
      const nb: OpenNotebook = { uri, version: 1, cells: cellsOf(readFileSync(session.path(rel), 'utf8')).map((c) => ({ uri: cellUri(next++), ...c, version: 1 })) };
      cellSeq.set(nb, () => cellUri(next++));
      void connection.sendNotification('notebookDocument/didOpen', {
        notebookDocument: { uri, notebookType: 'jupyter-notebook', version: nb.version, cells: nb.cells.map((c) => ({ kind: cellKind(c), document: c.uri })) },
        cellTextDocuments: nb.cells.map(cellItem),
      });
      return nb;
    },
    changeCell: (nb, k, text) => {
      const cell = nb.cells[k];
      cell.text = text;
      cell.version++;
      nb.version++;
      void connection.sendNotification('notebookDocument/didChange', {
        notebookDocument: { uri: nb.uri, version: nb.version },
        change: { cells: { textContent: [{ document: { uri: cell.uri, version: cell.version }, changes: [{ text }] }] } },
      });
    },
    insertCell: (nb, k, text) => {
      const cell: NotebookCellDoc = { uri: cellSeq.get(nb)!(), kind: 'code', text, version: 1 };
      nb.cells.splice(k, 0, cell);
      nb.version++;
      void connection.sendNotification('notebookDocument/didChange', {
        notebookDocument: { uri: nb.uri, version: nb.version },
        change: {
          cells: {
            structure: {
              array: { start: k, deleteCount: 0, cells: [{ kind: 2, document: cell.uri }] },
              didOpen: [cellItem(cell)],
            },
          },
        },
      });
    },
    closeNotebook: (nb) => {
      void connection.sendNotification('notebookDocument/didClose', { notebookDocument: { uri: nb.uri }, cellTextDocuments: nb.cells.map((c) => ({ uri: c.uri })) });
    },
    close: async () => {
      // A server that already exited (a fault test's shutdown/exit) gets no more messages: a write to its closed
      // stdin rejects, and an unawaited rejected notification fails whichever test is running (seen in CI).
      if (server.exitCode === null && server.signalCode === null) {
        // The LSP ending: shutdown (answered once the server's result writes have ended), then exit, then the
        // process gone. A later server on the same storage (a restart test, the first-finding bench's warm run) must
        // find what this one wrote, so it is not killed after a fixed grace; only a server that stops answering is
        // (HUNG_SERVER_MS bounds each wait, far above a loaded machine's seconds, so only a hang reaches it).
        const exited = new Promise((r) => server.once('exit', r));
        const hung = () => new Promise((r) => setTimeout(r, HUNG_SERVER_MS).unref());
        try {
          await Promise.race([connection.sendRequest('shutdown'), exited, hung()]);
          await connection.sendNotification('exit').catch(() => undefined);
        } catch {
          // already gone
        }
        await Promise.race([exited, hung()]);
      }
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      connection.dispose();
      rmSync(workspace, { recursive: true, force: true });
    },
  };

  connection.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
    diagnostics.set(p.uri, p.diagnostics);
    session.published.push(p);
    notify();
  });
  connection.onNotification('i2f/jobTrace', (p: JobTraceParams) => {
    session.traces.push(p);
    notify();
  });
  connection.onNotification('i2f/status', (p: StatusParams) => {
    session.statuses.push(p);
    notify();
  });
  connection.onNotification('window/showMessage', (p: { type: number; message: string }) => {
    session.messages.push(p);
    notify();
  });
  connection.onNotification('window/logMessage', (p: { message: string }) => {
    session.log.push(p.message);
  });
  connection.onNotification('$/progress', (p: Session['progress'][number]) => {
    session.progress.push(p);
    notify();
  });
  connection.onRequest('workspace/configuration', (p: { items: { section?: string }[] }) => p.items.map(() => settings));
  connection.onRequest('client/registerCapability', () => null);
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.onRequest('window/showMessageRequest', (p: { type: number; message: string }) => {
    session.messages.push(p);
    notify();
    return null;
  });
  connection.listen();

  await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(workspace).href,
    workspaceFolders: [{ uri: pathToFileURL(workspace).href, name: 'examples' }],
    capabilities: {
      workspace: { configuration: true, didChangeWatchedFiles: { dynamicRegistration: true }, didChangeConfiguration: { dynamicRegistration: true } },
      window: { workDoneProgress: true },
      textDocument: { publishDiagnostics: { codeDescriptionSupport: true }, inlayHint: {}, codeLens: {}, hover: { contentFormat: ['markdown'] } },
      notebookDocument: { synchronization: {} },
    },
    initializationOptions: { storagePath: storage, trusted: true, ...(options.initializationOptions ?? {}) },
  });
  void connection.sendNotification('initialized', {});
  return session;
}

/**
 * The I2F001 of a finished analysis. It carries the result's data (key, fromCache, psnr…); the provisional I2F001 a
 * running solve publishes ("Leakage risk … so far", analysis/configFindings.ts provisionalFinding) carries none, and
 * a test that took it for the result read a fromCache of undefined or counted a job not yet finished.
 */
export function leakageOf(d: Diagnostic[]): Diagnostic | undefined {
  return d.find((x) => x.code === 'I2F001' && x.data !== undefined);
}

export function codes(d: Diagnostic[]): string[] {
  return d.map((x) => String(x.code)).sort();
}

export async function stats(s: Session): Promise<import('../../server/src/protocol').StatsResult> {
  return s.connection.sendRequest('i2f/stats');
}
