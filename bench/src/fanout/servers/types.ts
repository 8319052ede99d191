export interface RunningServer {
  port: number;
  /** WebSocket path; y-websocket appends the document name to it. */
  path: string;
  stop(): Promise<void>;
  /** Documents the server holds in memory now (the room memory benchmark checks that left rooms unload). */
  loadedDocuments(): number;
}
