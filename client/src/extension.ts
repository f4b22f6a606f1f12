// The VS Code side, kept thin: start the language server (node IPC), pass workspace trust and the storage folder,
// register the I²F commands, and turn the server's status notification into a language status item.

import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, LanguageClient, TransportKind, WorkDoneProgress, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  AuditRequest, CancelAllRequest, ClearCacheRequest, Commands, ConfirmAttackRequest, ModelSummaryRequest, SpectrumDataRequest, SpectrumNoiseRequest,
  StatusNotification, TrustNotification, VerifyEnginesRequest,
  type AuditResult, type ClearCacheResult, type InitializationOptions, type ModelSummaryResult, type SpectrumDataResult,
  type SpectrumNoiseResult, type StatusParams, type ConfirmAttackResult, type VerifyEnginesResult,
  CheckpointHistoryRequest, type CheckpointHistoryResult,
} from '../../server/src/protocol';
import { activeInterpreter, onInterpreterChange } from './pythonInterpreter';
import { confirmAttackInPanel, registerWebviews, showSpectrumPanel, type ReportBackend, type SpectrumBackend } from './webview';

let client: LanguageClient | undefined;
let log: vscode.LogOutputChannel;
let status: vscode.LanguageStatusItem;
let extensionContext: vscode.ExtensionContext;
let attackSeq = 0;

/** What the webviews ask of the language server (they never compute I²F themselves). */
const backend: SpectrumBackend & ReportBackend = {
  log: (message) => log?.warn(message),
  spectrumData: async (p) => (client ? client.sendRequest<SpectrumDataResult>(SpectrumDataRequest, p) : { ok: false, message: 'the I²F server is not running' }),
  spectrumNoise: async (p) => (client ? client.sendRequest<SpectrumNoiseResult>(SpectrumNoiseRequest, p) : { ok: false, message: 'the I²F server is not running' }),
  checkpointHistory: async (p) => (client ? client.sendRequest<CheckpointHistoryResult>(CheckpointHistoryRequest, p) : { ok: false, message: 'the I²F server is not running' }),
  confirmAttack: async (config, onProgress, token) => {
    if (!client) return { ok: false, message: 'the I²F server is not running' };
    // Our own progress token: the server reports on it, and the panel mirrors it in the page.
    const workDoneToken = `i2f-attack-${++attackSeq}`;
    const sub = client.onProgress(WorkDoneProgress.type, workDoneToken, (p) => {
      if (p.kind !== 'end') onProgress(p.message ?? '', p.percentage ?? 0);
    });
    try {
      const r = await client.sendRequest<ConfirmAttackResult>(ConfirmAttackRequest, { uri: config, workDoneToken }, token);
      return r.ok ? { ok: true, view: r.view } : r;
    } finally {
      sub.dispose();
    }
  },
  modelSummary: async (p) => (client ? client.sendRequest<ModelSummaryResult>(ModelSummaryRequest, p) : { ok: false, message: 'the I²F server is not running' }),
  openSpectrum: async (config, model) => {
    const target = config ?? (await pickConfigUsing(model));
    if (target) showSpectrumPanel(extensionContext, backend, target);
  },
};

const SELECTOR: { scheme: string; language?: string; pattern?: string }[] = [
  { scheme: 'file', language: 'yaml' },
  { scheme: 'file', language: 'json' },
  { scheme: 'file', language: 'jsonc' },
  { scheme: 'file', language: 'toml' },
  // DP call sites in Python (Opacus, TF Privacy, Flower, Optax, dp-transformers): read by the server, never run.
  { scheme: 'file', language: 'python' },
  { scheme: 'file', pattern: '**/*.{yaml,yml,json,toml,conf,hocon,py}' },
];

/**
 * Jupyter notebooks' Python cells. The server declares notebookDocumentSync for them, so the client sends the cells
 * with notebookDocument/* (not as text documents); this filter registers hovers, inlay hints, code lenses and quick
 * fixes on the cells (their URIs are vscode-notebook-cell:, which the file filters above do not match).
 */
const NOTEBOOK_CELLS = { notebook: 'jupyter-notebook', language: 'python' } as const;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  log = vscode.window.createOutputChannel('I²F Privacy Lint', { log: true });
  status = vscode.languages.createLanguageStatusItem('i2f.status', [...SELECTOR, { notebookType: 'jupyter-notebook', language: 'python' }]);
  status.name = 'I²F Privacy Lint';
  status.text = 'I²F';
  status.command = { title: 'Show log', command: Commands.showLog };
  context.subscriptions.push(log, status);

  context.subscriptions.push(
    vscode.commands.registerCommand(Commands.showLog, () => log.show(true)),
    vscode.commands.registerCommand(Commands.auditWorkspace, () => audit()),
    vscode.commands.registerCommand(Commands.audit, (uri?: string | vscode.Uri) => {
      const target = uri ?? vscode.window.activeTextEditor?.document.uri;
      if (!target) return vscode.window.showInformationMessage('I²F: open a training config to audit it.');
      return audit([target.toString()]);
    }),
    vscode.commands.registerCommand(Commands.showSpectrum, (uri?: string | vscode.Uri) => showSpectrum(uri)),
    vscode.commands.registerCommand(Commands.confirmAttack, (uri?: string | vscode.Uri) => confirmAttack(uri)),
    vscode.commands.registerCommand(Commands.verifyEngines, (uri?: string | vscode.Uri) => verifyEngines(uri)),
    vscode.commands.registerCommand(Commands.cancel, async () => {
      const r = await client?.sendRequest<{ cancelled: number }>(CancelAllRequest);
      log.info(`cancelled ${r?.cancelled ?? 0} analysis job(s)`);
    }),
    vscode.commands.registerCommand(Commands.clearCache, async () => {
      const r = await client?.sendRequest<ClearCacheResult>(ClearCacheRequest);
      void vscode.window.showInformationMessage(`I²F: cache cleared (${r?.removedFiles ?? 0} result file(s)).`);
    }),
    vscode.commands.registerCommand(Commands.restart, async () => {
      await client?.restart();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void client?.sendNotification(TrustNotification, { trusted: true })),
  );
  registerWebviews(context, backend);

  await startClient(context);
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const module = vscode.Uri.joinPath(context.extensionUri, 'dist', 'server.js').fsPath;
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6011'] } },
  };
  const storage = context.storageUri ?? context.globalStorageUri;
  const initializationOptions: InitializationOptions = {
    storagePath: storage.fsPath,
    trusted: vscode.workspace.isTrusted,
    docsBase: vscode.Uri.joinPath(context.extensionUri, '/').toString(),
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [...SELECTOR, NOTEBOOK_CELLS],
    outputChannel: log,
    traceOutputChannel: log,
    initializationOptions,
    middleware: {
      workspace: {
        // The server pulls `i2f` settings per resource; the Python extension's interpreter for that resource rides
        // along (pythonExtensionInterpreter), next in line after i2f.python for the export bridge.
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result) || !vscode.workspace.isTrusted) return result;
          return Promise.all(result.map(async (r, i) => {
            const item = params.items[i];
            if (item?.section !== 'i2f' || !r || typeof r !== 'object') return r;
            const interpreter = await activeInterpreter(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined);
            return interpreter ? { ...r, pythonExtensionInterpreter: interpreter } : r;
          }));
        },
      },
    },
    // Hovers end with a "Verify engines" link: trusted for that one command only.
    markdown: { isTrusted: { enabledCommands: [Commands.verifyEngines] } },
    synchronize: {
      // Models (tfjs weight shards too), checkpoints and samples on disk: the server re-analyses configs using a changed one.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{onnx,safetensors,json,bin,yaml,yml,toml,conf,hocon,py,ipynb,npy,png,jpg,jpeg,pt,pth,ckpt}'),
    },
  };
  client = new LanguageClient('i2f', 'I²F Privacy Lint', serverOptions, clientOptions);
  client.onNotification(StatusNotification, (p: StatusParams) => showStatus(p));
  await client.start();
  // Another interpreter chosen in the Python extension: the server pulls its settings again (and re-exports).
  const change = await onInterpreterChange(() => void client?.sendNotification(DidChangeConfigurationNotification.type, { settings: null }));
  if (change) context.subscriptions.push(change);
}

function showStatus(p: StatusParams): void {
  status.text = p.text;
  status.detail = p.detail;
  status.busy = p.state === 'analysing';
  status.severity =
    p.state === 'error' ? vscode.LanguageStatusSeverity.Error : p.state === 'untrusted' || p.state === 'disabled' ? vscode.LanguageStatusSeverity.Warning : vscode.LanguageStatusSeverity.Information;
}

async function audit(uris?: string[]): Promise<void> {
  if (!client) return;
  const c = client;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: uris ? 'I²F: auditing the config' : 'I²F: auditing the workspace', cancellable: true },
    async (_progress, token) => {
      const r = await c.sendRequest<AuditResult>(AuditRequest, { uris }, token);
      if (!token.isCancellationRequested) {
        void vscode.window.showInformationMessage(`I²F: ${r.configs} training config(s), ${r.findings} finding(s): ${r.errors} error(s), ${r.warnings} warning(s). See the Problems panel.`);
      }
    },
  );
}

async function showSpectrum(uri?: string | vscode.Uri): Promise<void> {
  const target = (uri ?? vscode.window.activeTextEditor?.document.uri)?.toString();
  if (!target) {
    void vscode.window.showInformationMessage('I²F: open a training config to see its eigen-spectrum.');
    return;
  }
  showSpectrumPanel(extensionContext, backend, target);
}

/** Runs the attack the I²F predicts (a cancellable job); the spectrum panel shows original, predicted and recovered. */
async function confirmAttack(uri?: string | vscode.Uri): Promise<void> {
  const target = (uri ?? vscode.window.activeTextEditor?.document.uri)?.toString();
  if (!target) {
    void vscode.window.showInformationMessage('I²F: open a training config to attack its model.');
    return;
  }
  await confirmAttackInPanel(extensionContext, backend, target);
}

/** Both engines on the config's batches (a cancellable worker job); the verdict as a message, the detail in the log. */
async function verifyEngines(uri?: string | vscode.Uri): Promise<void> {
  const target = (uri ?? vscode.window.activeTextEditor?.document.uri)?.toString();
  if (!target) {
    void vscode.window.showInformationMessage('I²F: open a training config to verify the engines on its model.');
    return;
  }
  if (!client) return;
  const c = client;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'I²F: verifying the engines', cancellable: true },
    async (progress, token) => {
      const workDoneToken = `i2f-verify-${++attackSeq}`;
      let last = 0;
      const sub = c.onProgress(WorkDoneProgress.type, workDoneToken, (p) => {
        if (p.kind === 'end') return;
        const pct = p.percentage ?? last;
        progress.report({ message: p.message, increment: Math.max(0, pct - last) });
        last = pct;
      });
      try {
        const r = await c.sendRequest<VerifyEnginesResult>(VerifyEnginesRequest, { uri: target, workDoneToken }, token);
        if (r.ok) {
          for (const b of r.report.batches) log.info(`verify engines, samples ${b.samples.join(', ')}: g ${b.g.toExponential(2)}, J u ${b.Ju.toExponential(2)}, Jᵀ v ${b.JTv.toExponential(2)}`);
          const show = r.report.agree ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
          void show(`I²F: ${r.summary}`);
        } else if (!r.cancelled) void vscode.window.showErrorMessage(`I²F: ${r.message}`);
      } finally {
        sub.dispose();
      }
    },
  );
}

/** The training configs that name this model (by file name); the user picks one when there are several. */
async function pickConfigUsing(model: vscode.Uri): Promise<string | undefined> {
  const name = model.path.split('/').pop() ?? '';
  const candidates = await vscode.workspace.findFiles('**/*.{yaml,yml,json,toml,conf,hocon}', '**/{node_modules,.git,dist}/**', 500);
  const users: vscode.Uri[] = [];
  for (const uri of candidates) {
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    if (text.includes(name)) users.push(uri);
  }
  if (users.length === 0) {
    void vscode.window.showInformationMessage(`I²F: no training config in this workspace names ${name}; the spectrum is computed for a config's defence.`);
    return undefined;
  }
  if (users.length === 1) return users[0].toString();
  const pick = await vscode.window.showQuickPick(users.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })), { placeHolder: `Training configs that use ${name}` });
  return pick?.uri.toString();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
