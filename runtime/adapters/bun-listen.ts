/** Transport on Bun.listen: zero-copy reads, partial writes reported to the caller; connections over the descriptor budget closed at once. */

import { AcceptGate } from "./accept-gate.ts";
import type { Listen, SocketEvents, TransportSocket } from "./transport.ts";

export const listen: Listen = async (host, port, accept, afterEvent, log = (l) => console.error(l)) => {
  const gate = AcceptGate.forProcess(log);
  const server = Bun.listen<SocketEvents | undefined>({
    hostname: host,
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        if (!gate.admit()) return void s.terminate();
        s.setNoDelay(true);
        const sock: TransportSocket = {
          write: (d, start, end) => s.write(d, start, end - start),
          end: () => void s.end(),
          pause: () => s.pause(),
          resume: () => s.resume(),
        };
        s.data = accept(sock);
      },
      data(s, chunk) {
        s.data?.onData(chunk);
        afterEvent();
      },
      drain(s) {
        s.data?.onDrain();
        afterEvent();
      },
      end(s) {
        s.data?.onEnd();
        afterEvent();
      },
      close(s) {
        closed(s);
      },
      error(s) {
        closed(s);
      },
    },
  });
  /** close and error can both come: release the connection's place once. */
  function closed(s: { data: SocketEvents | undefined }): void {
    const ev = s.data;
    if (ev === undefined) return;
    s.data = undefined;
    gate.release();
    ev.onClose();
    afterEvent();
  }
  return {
    host,
    port: server.port,
    stop: async () => server.stop(true),
  };
};
