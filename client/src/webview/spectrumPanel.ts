// The eigen-spectrum panel (webview-sample's shape): one panel, createOrShow / revive / dispose, media/ as the only
// resource root, typed messages both ways, and a serializer so a reload restores it. It relays; the server computes.

import * as vscode from 'vscode';
import type {
  SpectrumDataParams, SpectrumDataResult, SpectrumHostMessage, SpectrumNoiseParams, SpectrumNoiseResult,
  SpectrumPageMessage, SpectrumPageState,
} from '../../../server/src/webviewProtocol';
import { pageHtml } from './html';

/** What the panel needs from the language client: two custom requests (see webviewProtocol.ts). */
export interface SpectrumBackend {
  spectrumData(params: SpectrumDataParams): Promise<SpectrumDataResult>;
  spectrumNoise(params: SpectrumNoiseParams): Promise<SpectrumNoiseResult>;
}

export class SpectrumPanel {
  static readonly viewType = 'i2f.spectrum';
  private static current: SpectrumPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private params: SpectrumDataParams;
  private key: string | undefined;
  /** Noise requests are answered in order; a newer slider position supersedes one still on its way. */
  private noiseSeq = 0;

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

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, backend: SpectrumBackend, state: SpectrumPageState | undefined): void {
    panel.webview.options = SpectrumPanel.options(extensionUri);
    const view = state?.data;
    SpectrumPanel.current = new SpectrumPanel(panel, extensionUri, backend, {
      uri: state?.config ?? '', sample: view?.settings.sample, k: view?.settings.k, damping: view?.settings.damping, std: state?.std,
    });
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
    w.onDidReceiveMessage((m: SpectrumPageMessage) => void this.onMessage(m), null, this.disposables);
  }

  private post(m: SpectrumHostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private async load(change: Partial<SpectrumDataParams>): Promise<void> {
    this.params = { ...this.params, ...change };
    if (!this.params.uri) return this.post({ type: 'error', message: 'No training config: run "I²F: Show eigen-spectrum" from a config.' });
    this.post({ type: 'busy', text: 'Analysing (eigen-spectrum and per-sample I²F)…' });
    try {
      const r = await this.backend.spectrumData(this.params);
      if (!r.ok) return this.post({ type: 'error', message: r.message });
      this.key = r.data.key;
      this.panel.title = `I²F spectrum: ${r.data.config.split(/[\\/]/).pop()}`;
      this.post({ type: 'spectrum', data: r.data });
    } catch (e) {
      this.post({ type: 'error', message: `The spectrum request failed: ${(e as Error).message}` });
    }
  }

  private async onMessage(m: SpectrumPageMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
      case 'refresh':
        return this.load({});
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
