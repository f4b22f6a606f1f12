// Errors as values a user can act on: what went wrong, in which file, at which node or line.

export interface SourceLocation {
  /** Absolute or workspace-relative path of the file the problem is in. */
  file?: string;
  /** ONNX node name and op type, when the problem is one node of a model. */
  node?: string;
  op?: string;
  /** 0-based line and character, when the problem is a place in a text file. */
  line?: number;
  character?: number;
}

/**
 * A problem in the user's input (model, weights, data, config, command line) rather than a bug of ours.
 * `code` is stable and documented (e.g. 'unsupported-op', 'shape-mismatch', 'corrupt-model').
 */
export class UserError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly location: SourceLocation = {},
  ) {
    super(message);
    this.name = 'UserError';
  }

  /** "file: node 'conv1' (Conv): message" — the form the CLI prints and diagnostics show. */
  describe(): string {
    const { file, node, op, line, character } = this.location;
    const where: string[] = [];
    if (file) where.push(line !== undefined ? `${file}:${line + 1}:${(character ?? 0) + 1}` : file);
    if (node !== undefined || op) where.push(`node '${node ?? '?'}'${op ? ` (${op})` : ''}`);
    return where.length ? `${where.join(': ')}: ${this.message}` : this.message;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
