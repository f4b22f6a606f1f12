// Code lenses on the model line: run an audit of this config, show its eigen-spectrum, confirm with a real attack,
// verify the two engines on its model.

import type { CodeLens } from 'vscode-languageserver';
import { Commands } from '../protocol';
import type { ConfigView } from './configView';

export function codeLenses(view: ConfigView): CodeLens[] {
  if (!view.config.model) return [];
  const field = view.config.setup.model;
  const range = field ? { start: field.keyRange.start, end: field.valueRange.end } : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return [
    { range, command: { title: 'Audit', command: Commands.audit, arguments: [view.uri] } },
    { range, command: { title: 'Show eigen-spectrum', command: Commands.showSpectrum, arguments: [view.uri] } },
    { range, command: { title: 'Confirm with a real attack', command: Commands.confirmAttack, arguments: [view.uri] } },
    { range, command: { title: 'Verify engines', command: Commands.verifyEngines, arguments: [view.uri] } },
  ];
}
