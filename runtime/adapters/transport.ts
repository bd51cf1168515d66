/**
 * The one thing the server needs from a runtime's networking: accept TCP
 * connections and move bytes. Bun gets its native sockets (bun-listen.ts,
 * fastest); Deno uses node:net (node-listen.ts). The runtime's adapter
 * (platform.ts) says which.
 */
export interface TransportSocket {
  /** Writes what the kernel takes now of data[start, end); returns the number of bytes taken. */
  write(data: Uint8Array, start: number, end: number): number;
  /** Closes the connection after the bytes already taken. */
  end(): void;
  /** Stops/resumes delivering data (backpressure). */
  pause(): void;
  resume(): void;
}

export interface SocketEvents {
  onData(chunk: Uint8Array): void;
  /** The socket can take more bytes. */
  onDrain(): void;
  /** The peer half-closed its side. */
  onEnd(): void;
  onClose(): void;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Listens on host:port. `accept` is called per connection; `afterEvent` runs
 * after every event the transport delivers, so the server can flush replies
 * once per event. Connections beyond what the descriptor limit leaves room
 * for are closed before `accept` sees them (accept-gate.ts); `log` gets the
 * warning (stderr by default).
 */
export type Listen = (
  host: string,
  port: number,
  accept: (sock: TransportSocket) => SocketEvents,
  afterEvent: () => void,
  log?: (line: string) => void,
) => Promise<Listener>;
