// The model report: a custom read-only editor for .onnx files and tfjs model.json. The document is only a URI (the
// server reads the file from disk, so huge checkpoints never pass through the editor); the page shows its summary.

import * as vscode from 'vscode';
import type { ModelSummaryParams, ModelSummaryResult, ReportHostMessage, ReportPageMessage } from '../../../server/src/webviewProtocol';
import { pageHtml } from './html';

export interface ReportBackend {
  modelSummary(params: ModelSummaryParams): Promise<ModelSummaryResult>;
  /** Opens the spectrum for a config (or, without one, for a config that uses this model: the extension chooses). */
  openSpectrum(config: string | undefined, model: vscode.Uri): Promise<void>;
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
    const load = async () => {
      try {
        const r = await this.backend.modelSummary({ uri: document.uri.toString() });
        post(r.ok ? { type: 'summary', summary: r.summary, results: r.results } : { type: 'error', message: r.message });
      } catch (e) {
        post({ type: 'error', message: `The model summary request failed: ${(e as Error).message}` });
      }
    };
    const subscriptions = [
      w.onDidReceiveMessage((m: ReportPageMessage) => {
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
