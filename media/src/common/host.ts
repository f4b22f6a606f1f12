// The page's side of the webview host: VS Code's acquireVsCodeApi (once per page), typed messages and state.

interface VsCodeApi<State> {
  postMessage(message: unknown): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): VsCodeApi<State>;

export interface Host<Out, In, State> {
  post(message: Out): void;
  onMessage(handler: (message: In) => void): void;
  getState(): State | undefined;
  setState(state: State): void;
}

/** `check`: the message's shape (hostMessages.ts); a message that fails it, or whose handling throws, is dropped and logged. */
export function connectHost<Out, In, State>(check: (m: unknown) => In | undefined): Host<Out, In, State> {
  const api = acquireVsCodeApi<State>();
  return {
    post: (m) => api.postMessage(m),
    onMessage: (handler) => window.addEventListener('message', (e: MessageEvent) => {
      const m = check(e.data);
      const type = String((e.data as { type?: unknown } | null)?.type);
      if (m === undefined) return console.warn(`I²F page: dropped a malformed '${type}' message`);
      try {
        handler(m);
      } catch (err) {
        console.warn(`I²F page: could not show a '${type}' message: ${(err as Error).message}`);
      }
    }),
    getState: () => api.getState(),
    setState: (s) => api.setState(s),
  };
}
