export interface RunningServer {
  port: number;
  /** WebSocket path; y-websocket appends the document name to it. */
  path: string;
  stop(): Promise<void>;
}
