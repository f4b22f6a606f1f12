// The Python extension's active interpreter for a resource, asked through the extension's public API (the way
// astral-sh/ruff-vscode does): the server's export bridge tries it right after the i2f.python setting. The client
// knows the user's choice; the server never guesses when the client can tell it.

import * as vscode from 'vscode';

/** The part of ms-python.python's exported API used here (stable since 2023; @vscode/python-extension types it). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(environment: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION = 'ms-python.python';
/** Settings pulls wait on this: an extension still activating must not hold up every diagnostic. */
const ANSWER_WITHIN_MS = 3000;

async function api(): Promise<PythonExtensionApi | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
  if (!ext) return undefined;
  return ext.isActive ? ext.exports : ext.activate();
}

/** The interpreter's executable path, or undefined (no Python extension, no interpreter chosen, no answer in time). */
export async function activeInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const ask = (async () => {
    const envs = (await api())?.environments;
    if (!envs) return undefined;
    const active = envs.getActiveEnvironmentPath(resource);
    const resolved = await envs.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  })().catch(() => undefined);
  const timeout = new Promise<undefined>((done) => setTimeout(() => done(undefined), ANSWER_WITHIN_MS));
  return Promise.race([ask, timeout]);
}

/** Calls `changed` when the user picks another interpreter (the server then pulls its settings again). */
export async function onInterpreterChange(changed: () => void): Promise<vscode.Disposable | undefined> {
  try {
    return (await api())?.environments?.onDidChangeActiveEnvironmentPath?.(changed);
  } catch {
    return undefined;
  }
}
