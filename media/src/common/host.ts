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

export function connectHost<Out, In, State>(): Host<Out, In, State> {
  const api = acquireVsCodeApi<State>();
  return {
    post: (m) => api.postMessage(m),
    onMessage: (handler) => window.addEventListener('message', (e: MessageEvent) => {
      const data = e.data as { type?: unknown } | null;
      if (data && typeof data.type === 'string') handler(data as In);
    }),
    getState: () => api.getState(),
    setState: (s) => api.setState(s),
  };
}
