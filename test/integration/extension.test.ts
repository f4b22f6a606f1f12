// The extension in the real extension host (code-server's, through @vscode/test-cli): it activates on the examples
// workspace, registers its commands, publishes diagnostics VS Code's API sees, respects settings, answers hovers,
// shows the spectrum, and comes back after the restart command.

import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { after, before, describe, it } from 'mocha';

const ID = 'i2f.i2f-privacy-lint';
const folder = () => vscode.workspace.workspaceFolders![0].uri;
const flower = () => vscode.Uri.joinPath(folder(), 'flower/pyproject.toml');
const leakage = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).find((d) => String(typeof d.code === 'object' ? d.code.value : d.code) === 'I2F001');

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('I²F Privacy Lint in the extension host', () => {
  before(async () => {
    const ext = vscode.extensions.getExtension(ID);
    assert.ok(ext, `${ID} is loaded`);
    await waitFor('activation (workspaceContains)', () => ext.isActive, 30_000);
  });

  after(async () => {
    await vscode.workspace.getConfiguration('i2f').update('thresholds.medium', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('i2f.cancelAnalyses');
  });

  it('registers every command it contributes', async () => {
    const contributed = (vscode.extensions.getExtension(ID)!.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(contributed.filter((c) => !registered.has(c)), []);
    assert.ok(contributed.length >= 7);
  });

  it('publishes the Flower config\'s I2F001 finding on the noise line', async () => {
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(flower()));
    const d = await waitFor('I2F001', () => leakage(flower()));
    assert.equal(d.range.start.line, 21);
    assert.equal(d.severity, vscode.DiagnosticSeverity.Information, 'low risk is information');
    assert.equal(d.source, 'I²F');
    assert.match(d.message, /Leakage risk LOW: .* PSNR -?[\d.]+ dB \(RMSE [\d.]+\)/);
    const code = d.code as { value: string; target: vscode.Uri };
    assert.match(code.target.toString(), /rules\.md#i2f001/);
  });

  it('answers a hover whose Markdown explains the prediction', async () => {
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', flower(), new vscode.Position(21, 3));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    for (const part of ['noise-multiplier', 'Predicted PSNR', 'Lower bound']) assert.ok(text.includes(part), `hover has '${part}'`);
  });

  it('respects the risk thresholds setting: a lower medium threshold turns the finding into a warning', async () => {
    await vscode.workspace.getConfiguration('i2f').update('thresholds.medium', -100, vscode.ConfigurationTarget.Workspace);
    const d = await waitFor('a MEDIUM finding', () => {
      const f = leakage(flower());
      return f && /Leakage risk MEDIUM/.test(f.message) ? f : undefined;
    }, 30_000);
    assert.equal(d.severity, vscode.DiagnosticSeverity.Warning);
    await vscode.workspace.getConfiguration('i2f').update('thresholds.medium', undefined, vscode.ConfigurationTarget.Workspace);
    await waitFor('the LOW finding back', () => /Leakage risk LOW/.test(leakage(flower())?.message ?? ''), 30_000);
  });

  it('shows the eigen-spectrum of the open config in its webview panel', async () => {
    const before = new Set(vscode.window.tabGroups.all.flatMap((g) => g.tabs));
    await vscode.commands.executeCommand('i2f.showSpectrum', flower());
    const tab = await waitFor('a spectrum tab', () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => !before.has(t)), 60_000);
    assert.ok(tab.input instanceof vscode.TabInputWebview, `the new tab '${tab.label}' is a webview, not the old text report`);
    // VS Code reports an extension's panel type with its own prefix (mainThreadWebview-…).
    assert.match(tab.input.viewType, /(^|-)i2f\.spectrum$/, 'the spectrum panel (SpectrumPanel.viewType)');
    assert.equal(tab.label, 'I²F eigen-spectrum');
    assert.equal(vscode.workspace.textDocuments.filter((d) => d.uri.scheme === 'untitled').length, 0, 'no text report opened beside it');
  });

  it('comes back after the restart command with the finding and the hover', async () => {
    await vscode.commands.executeCommand('i2f.restartServer');
    const hovers = await waitFor('a hover after the restart', async () => {
      const h = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', flower(), new vscode.Position(21, 3));
      return h.length ? h : undefined;
    }, 60_000);
    assert.ok(hovers.length > 0);
    await waitFor('I2F001 after the restart', () => leakage(flower()), 60_000);
  });
});
