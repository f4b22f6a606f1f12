// The VS Code side, kept thin: start the language server (node IPC), pass workspace trust and the storage folder,
// register the I²F commands, and turn the server's status notification into a language status item.

import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  AuditRequest, CancelAllRequest, ClearCacheRequest, Commands, ConfirmAttackRequest, ModelSummaryRequest, SpectrumDataRequest, SpectrumNoiseRequest,
  StatusNotification, TrustNotification,
  type AuditResult, type ClearCacheResult, type InitializationOptions, type ModelSummaryResult, type SpectrumDataResult,
  type SpectrumNoiseResult, type StatusParams, type ConfirmAttackResult,
} from '../../server/src/protocol';
import { registerWebviews, showSpectrumPanel, type ReportBackend, type SpectrumBackend } from './webview';

let client: LanguageClient | undefined;
let log: vscode.LogOutputChannel;
let status: vscode.LanguageStatusItem;
let extensionContext: vscode.ExtensionContext;

/** What the webviews ask of the language server (they never compute I²F themselves). */
const backend: SpectrumBackend & ReportBackend = {
  spectrumData: async (p) => (client ? client.sendRequest<SpectrumDataResult>(SpectrumDataRequest, p) : { ok: false, message: 'the I²F server is not running' }),
  spectrumNoise: async (p) => (client ? client.sendRequest<SpectrumNoiseResult>(SpectrumNoiseRequest, p) : { ok: false, message: 'the I²F server is not running' }),
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
  { scheme: 'file', pattern: '**/*.{yaml,yml,json,toml}' },
];

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  log = vscode.window.createOutputChannel('I²F Privacy Lint', { log: true });
  status = vscode.languages.createLanguageStatusItem('i2f.status', SELECTOR);
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
    documentSelector: SELECTOR,
    outputChannel: log,
    traceOutputChannel: log,
    initializationOptions,
    synchronize: {
      // Models, checkpoints and samples on disk: the server re-analyses configs that use a changed one.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{onnx,safetensors,json,yaml,yml,toml,npy,png,jpg,jpeg,pt,pth,ckpt}'),
    },
  };
  client = new LanguageClient('i2f', 'I²F Privacy Lint', serverOptions, clientOptions);
  client.onNotification(StatusNotification, (p: StatusParams) => showStatus(p));
  await client.start();
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

/** Runs the attack the I²F predicts (a cancellable background job) and shows original, predicted and recovered. */
async function confirmAttack(uri?: string | vscode.Uri): Promise<void> {
  const target = (uri ?? vscode.window.activeTextEditor?.document.uri)?.toString();
  if (!client || !target) return;
  const c = client;
  const r = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'I²F: running the gradient-inversion attack', cancellable: true },
    (_progress, token) => c.sendRequest<ConfirmAttackResult>(ConfirmAttackRequest, { uri: target }, token),
  );
  if (!r.ok) {
    void vscode.window.showWarningMessage(`I²F: ${r.message}`);
    return;
  }
  const lines = [`# Attack on ${vscode.workspace.asRelativePath(vscode.Uri.file(r.config))}`, ''];
  for (const b of r.report.results) {
    lines.push(`Samples ${b.samples.join(', ')} under ${b.defense.join(' then ') || 'no defence'}: the attack rebuilt them at RMSE ${b.rmse.toPrecision(3)} (PSNR ${b.psnr.toFixed(1)} dB${b.ssim !== null ? `, SSIM ${b.ssim.toFixed(3)}` : ''}); I²F predicted RMSE ${b.predictedRmse.toPrecision(3)} (attack / prediction = ${b.ratio.toFixed(2)})${b.prediction.converged ? '' : ' — the prediction\'s solve did not converge'}. ${b.steps} steps in ${(b.ms / 1000).toFixed(1)} s.`, '');
    const png = (b.files ?? []).filter((f) => f.endsWith('.png'));
    if (png.length) lines.push('| original | predicted (x0 + I(δ)) | recovered by the attack |', '|---|---|---|');
    const pick = (kind: string) => png.filter((f) => f.includes(kind));
    const originals = pick('original');
    originals.forEach((o, i) => {
      const cell = (f?: string) => (f ? `![](${vscode.Uri.file(f).toString()})` : '');
      lines.push(`| ${cell(o)} | ${cell(pick('predicted')[i])} | ${cell(pick('recovered')[i])} |`);
    });
    lines.push('');
  }
  const doc = vscode.Uri.file(`${r.folder}/attack.md`);
  await vscode.workspace.fs.writeFile(doc, new TextEncoder().encode(lines.join('\n')));
  await vscode.commands.executeCommand('markdown.showPreview', doc);
}

/** The training configs that name this model (by file name); the user picks one when there are several. */
async function pickConfigUsing(model: vscode.Uri): Promise<string | undefined> {
  const name = model.path.split('/').pop() ?? '';
  const candidates = await vscode.workspace.findFiles('**/*.{yaml,yml,json,toml}', '**/{node_modules,.git,dist}/**', 500);
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
