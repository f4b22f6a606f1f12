// The eigen-spectrum panel (webview-sample's shape): one panel, createOrShow / revive / dispose, media/ as the only
// resource root, typed messages both ways, and a serializer so a reload restores it. It relays; the server computes.

import * as vscode from 'vscode';
import type {
  AttackView, CheckpointHistoryParams, CheckpointHistoryResult, SpectrumDataParams, SpectrumDataResult, SpectrumHostMessage, SpectrumNoiseParams, SpectrumNoiseResult,
  SpectrumPageMessage, SpectrumPageState,
} from '../../../server/src/webviewProtocol';
import { pageHtml } from './html';
import { checkSpectrumPageMessage, checkSpectrumPageState } from './pageMessages';

/** How a "Run attack" ended: the page's view of the result, or why there is none. */
export type AttackOutcome = { ok: true; view: AttackView } | { ok: false; message: string; cancelled?: boolean };

/** What the panel needs from the language client: the custom requests (see webviewProtocol.ts, protocol.ts). */
export interface SpectrumBackend {
  spectrumData(params: SpectrumDataParams): Promise<SpectrumDataResult>;
  spectrumNoise(params: SpectrumNoiseParams): Promise<SpectrumNoiseResult>;
  /** Runs the real attack for a config; progress as (stage, percent 0…100). */
  confirmAttack(config: string, onProgress: (stage: string, percent: number) => void, token: vscode.CancellationToken): Promise<AttackOutcome>;
  /** The leakage per checkpoint of the config's training (absent: the page shows no history). */
  checkpointHistory?(params: CheckpointHistoryParams): Promise<CheckpointHistoryResult>;
  /** Where a dropped page message is reported (the extension's log). */
  log?(message: string): void;
}

export class SpectrumPanel {
  static readonly viewType = 'i2f.spectrum';
  private static current: SpectrumPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private params: SpectrumDataParams;
  private key: string | undefined;
  /** Noise requests are answered in order; a newer slider position supersedes one still on its way. */
  private noiseSeq = 0;
  /** The attack running for this panel (one at a time), and the last message about it (re-sent when the page loads). */
  private attackRun: { config: string; cancel: vscode.CancellationTokenSource; done: Promise<void> } | undefined;
  private attackLast: SpectrumHostMessage | undefined;

  static createOrShow(extensionUri: vscode.Uri, backend: SpectrumBackend, config: string): SpectrumPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.One;
    if (SpectrumPanel.current) {
      SpectrumPanel.current.panel.reveal(column);
      if (SpectrumPanel.current.params.uri !== config) SpectrumPanel.current.load({ uri: config });
      return SpectrumPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(SpectrumPanel.viewType, 'I²F eigen-spectrum', column, SpectrumPanel.options(extensionUri));
    SpectrumPanel.current = new SpectrumPanel(panel, extensionUri, backend, { uri: config });
    return SpectrumPanel.current;
  }

  /** Opens (or re-targets) the panel for a config and runs the real attack there (the code lens's command). */
  static confirmAttack(extensionUri: vscode.Uri, backend: SpectrumBackend, config: string): Promise<void> {
    return SpectrumPanel.createOrShow(extensionUri, backend, config).runAttack();
  }

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, backend: SpectrumBackend, state: unknown): void {
    panel.webview.options = SpectrumPanel.options(extensionUri);
    // The saved state was written by the page: only well-formed parameters are restored.
    SpectrumPanel.current = new SpectrumPanel(panel, extensionUri, backend, checkSpectrumPageState(state));
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, retainContextWhenHidden: false, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')] };
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly backend: SpectrumBackend,
    params: SpectrumDataParams,
  ) {
    this.params = params;
    const w = panel.webview;
    w.html = pageHtml('spectrum', {
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dist', 'spectrum.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dist', 'styles.css')).toString(),
    });
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    // The page is untrusted input: only well-formed messages are acted on (pageMessages.ts).
    w.onDidReceiveMessage((raw: unknown) => {
      const checked = checkSpectrumPageMessage(raw);
      if (checked.ok) void this.onMessage(checked.message);
      else this.backend.log?.(`spectrum page: dropped a message: ${checked.reason}`);
    }, null, this.disposables);
  }

  private post(m: SpectrumHostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private postAttack(m: SpectrumHostMessage): void {
    this.attackLast = m;
    this.post(m);
  }

  /**
   * Runs the attack for the panel's config as a cancellable job: one progress stream shown both as a notification
   * (with its Cancel) and in the page (with its own Cancel button); the result lands in the page.
   */
  runAttack(): Promise<void> {
    const config = this.params.uri;
    if (this.attackRun) {
      if (this.attackRun.config === config) return this.attackRun.done; // the running one answers this request too
      // One on another config (the panel was re-targeted): it is being cancelled; start ours once it has stopped.
      this.attackRun.cancel.cancel();
      return this.attackRun.done.then(() => this.runAttack());
    }
    if (!config) {
      this.postAttack({ type: 'attackStopped', message: 'No training config: open the panel from a config first.', cancelled: false });
      return Promise.resolve();
    }
    const cancel = new vscode.CancellationTokenSource();
    this.postAttack({ type: 'attackProgress', stage: 'starting the attack', fraction: 0 });
    const done = Promise.resolve(vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'I²F: running the gradient-inversion attack', cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => cancel.cancel());
        let shown = 0;
        let r: AttackOutcome;
        try {
          r = await this.backend.confirmAttack(config, (stage, percent) => {
            progress.report({ message: stage, increment: Math.max(0, percent - shown) });
            shown = Math.max(shown, percent);
            if (this.attackRun?.config === config) this.postAttack({ type: 'attackProgress', stage, fraction: percent / 100 });
          }, cancel.token);
        } catch (e) {
          r = cancel.token.isCancellationRequested
            ? { ok: false, message: 'The attack was cancelled.', cancelled: true }
            : { ok: false, message: `The attack request failed: ${(e as Error).message}` };
        }
        if (this.params.uri !== config) return; // the panel moved on to another config meanwhile
        if (r.ok) this.postAttack({ type: 'attack', data: r.view });
        else {
          const cancelled = r.cancelled === true || cancel.token.isCancellationRequested;
          this.postAttack({ type: 'attackStopped', message: cancelled ? 'The attack was cancelled.' : r.message, cancelled });
          if (!cancelled) void vscode.window.showWarningMessage(`I²F: ${r.message}`);
        }
      },
    )).finally(() => {
      cancel.dispose();
      this.attackRun = undefined;
    });
    this.attackRun = { config, cancel, done };
    return done;
  }

  private async load(change: Partial<SpectrumDataParams>): Promise<void> {
    if (change.uri !== undefined && change.uri !== this.params.uri) {
      // Another config: its attack is a different one.
      this.attackRun?.cancel.cancel();
      this.attackLast = undefined;
    }
    this.params = { ...this.params, ...change };
    if (!this.params.uri) return this.post({ type: 'error', message: 'No training config: run "I²F: Show eigen-spectrum" from a config.' });
    this.post({ type: 'busy', text: 'Analysing (eigen-spectrum and per-sample I²F)…' });
    try {
      const r = await this.backend.spectrumData(this.params);
      if (!r.ok) return this.post({ type: 'error', message: r.message });
      this.key = r.data.key;
      this.panel.title = `I²F spectrum: ${r.data.config.split(/[\\/]/).pop()}`;
      this.post({ type: 'spectrum', data: r.data });
      void this.sendHistory(this.params.uri);
    } catch (e) {
      this.post({ type: 'error', message: `The spectrum request failed: ${(e as Error).message}` });
    }
  }

  private async sendHistory(uri: string): Promise<void> {
    try {
      const h = await this.backend.checkpointHistory?.({ uri });
      if (h?.ok && uri === this.params.uri) this.post({ type: 'history', data: h.history });
    } catch (e) {
      this.backend.log?.(`checkpoint history of ${uri}: ${(e as Error).message}`);
    }
  }

  private async onMessage(m: SpectrumPageMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        // A page that (re)loads missed what was said about a running or finished attack.
        if (this.attackLast) this.post(this.attackLast);
        return this.load({});
      case 'refresh':
        return this.load({});
      case 'runAttack':
        return this.runAttack();
      case 'cancelAttack':
        this.attackRun?.cancel.cancel();
        return;
      case 'setSample':
        return this.load({ sample: m.sample });
      case 'setK':
        return this.load({ k: m.k });
      case 'setDamping':
        return this.load({ damping: m.damping });
      case 'setNoise': {
        this.params.std = m.std;
        if (!this.key) return;
        const seq = ++this.noiseSeq;
        const r = await this.backend.spectrumNoise({ key: this.key, std: m.std });
        if (seq !== this.noiseSeq) return;
        if (r.ok) this.post({ type: 'noise', key: this.key, noise: r.noise });
        else if (/no cached spectrum/i.test(r.message)) return this.load({}); // the server forgot it (restart): recompute
        else this.post({ type: 'error', message: r.message });
        return;
      }
      case 'copy':
        await vscode.env.clipboard.writeText(m.text);
        return this.post({ type: 'done', text: `Copied the ${m.what} to the clipboard.` });
      case 'save':
        return this.save(m.format, m.name, m.data);
    }
  }

  private async save(format: 'svg' | 'png' | 'csv', name: string, data: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
      filters: { [format.toUpperCase()]: [format] },
    });
    if (!target) return;
    const bytes = format === 'png' ? Buffer.from(data.replace(/^data:image\/png;base64,/, ''), 'base64') : Buffer.from(data, 'utf8');
    await vscode.workspace.fs.writeFile(target, bytes);
    this.post({ type: 'done', text: `Saved ${vscode.workspace.asRelativePath(target)}.` });
  }

  dispose(): void {
    if (SpectrumPanel.current === this) SpectrumPanel.current = undefined;
    this.attackRun?.cancel.cancel(); // nobody is left to see it
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }
}

/** Restores the panel after a window reload from the page's getState (its config, sample, k, damping, std). */
export class SpectrumPanelSerializer implements vscode.WebviewPanelSerializer<SpectrumPageState> {
  constructor(private readonly extensionUri: vscode.Uri, private readonly backend: SpectrumBackend) {}

  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: SpectrumPageState | undefined): Promise<void> {
    SpectrumPanel.revive(panel, this.extensionUri, this.backend, state);
  }
}
