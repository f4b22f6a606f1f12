// The model report: a custom read-only editor for .onnx files and tfjs model.json. The document is only a URI (the
// server reads the file from disk, so huge checkpoints never pass through the editor); the page shows its summary.

import * as vscode from 'vscode';
import type { ModelSummaryParams, ModelSummaryResult, ReportHostMessage } from '../../../server/src/webviewProtocol';
import { pageHtml } from './html';
import { checkReportPageMessage } from './pageMessages';

export interface ReportBackend {
  modelSummary(params: ModelSummaryParams): Promise<ModelSummaryResult>;
  /** Opens the spectrum for a config (or, without one, for a config that uses this model: the extension chooses). */
  openSpectrum(config: string | undefined, model: vscode.Uri): Promise<void>;
  /** Where a dropped page message is reported (the extension's log). */
  log?(message: string): void;
}

export class ModelReportEditor implements vscode.CustomReadonlyEditorProvider {
  static readonly viewType = 'i2f.modelReport';

  static register(context: vscode.ExtensionContext, backend: ReportBackend): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(ModelReportEditor.viewType, new ModelReportEditor(context.extensionUri, backend), {
      webviewOptions: { retainContextWhenHidden: false },
      supportsMultipleEditorsPerDocument: true,
    });
  }

  constructor(private readonly extensionUri: vscode.Uri, private readonly backend: ReportBackend) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => {} };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const w = panel.webview;
    w.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'media')] };
    w.html = pageHtml('report', {
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'dist', 'report.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'dist', 'styles.css')).toString(),
    });
    const post = (m: ReportHostMessage) => void w.postMessage(m);
    /** The configs the page was shown: the only ones it may open the spectrum for. */
    let shown = new Set<string>();
    const load = async () => {
      try {
        const r = await this.backend.modelSummary({ uri: document.uri.toString() });
        shown = new Set(r.ok ? r.results.map((x) => x.config) : []);
        post(r.ok ? { type: 'summary', summary: r.summary, results: r.results } : { type: 'error', message: r.message });
      } catch (e) {
        post({ type: 'error', message: `The model summary request failed: ${(e as Error).message}` });
      }
    };
    const subscriptions = [
      w.onDidReceiveMessage((raw: unknown) => {
        // The page is untrusted input: only well-formed messages are acted on (pageMessages.ts).
        const checked = checkReportPageMessage(raw, shown);
        if (!checked.ok) return this.backend.log?.(`model report page: dropped a message: ${checked.reason}`);
        const m = checked.message;
        if (m.type === 'ready' || m.type === 'refresh') void load();
        else if (m.type === 'openSpectrum') void this.backend.openSpectrum(m.config, document.uri);
      }),
      // The checkpoint changed on disk (a new training round): summarise again.
      vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.joinPath(document.uri, '..'), document.uri.path.split('/').pop()!)),
    ];
    (subscriptions[1] as vscode.FileSystemWatcher).onDidChange(() => void load(), null, subscriptions);
    panel.onDidDispose(() => subscriptions.forEach((d) => d.dispose()));
  }
}
