// One call registers both webviews: the spectrum panel (with its reload serializer) and the model report editor.

import * as vscode from 'vscode';
import { ModelReportEditor, type ReportBackend } from './modelReportEditor';
import { SpectrumPanel, SpectrumPanelSerializer, type SpectrumBackend } from './spectrumPanel';

export { SpectrumPanel } from './spectrumPanel';
export type { SpectrumBackend, AttackOutcome } from './spectrumPanel';
export type { ReportBackend } from './modelReportEditor';

export function registerWebviews(context: vscode.ExtensionContext, backend: SpectrumBackend & ReportBackend): void {
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(SpectrumPanel.viewType, new SpectrumPanelSerializer(context.extensionUri, backend)),
    ModelReportEditor.register(context, backend),
  );
}

/** Opens (or re-targets) the spectrum panel for a training config. */
export function showSpectrumPanel(context: vscode.ExtensionContext, backend: SpectrumBackend, config: string): void {
  SpectrumPanel.createOrShow(context.extensionUri, backend, config);
}

/** Opens (or re-targets) the spectrum panel for a config and runs the real attack there. */
export function confirmAttackInPanel(context: vscode.ExtensionContext, backend: SpectrumBackend, config: string): Promise<void> {
  return SpectrumPanel.confirmAttack(context.extensionUri, backend, config);
}
