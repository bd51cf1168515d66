/** Transport on Bun.listen: zero-copy reads, partial writes reported to the caller. */
import type { Listen, SocketEvents, TransportSocket } from "./transport.ts";

export const listen: Listen = async (host, port, accept, afterEvent) => {
  const server = Bun.listen<SocketEvents>({
    hostname: host,
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
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
        s.data.onData(chunk);
        afterEvent();
      },
      drain(s) {
        s.data.onDrain();
        afterEvent();
      },
      end(s) {
        s.data.onEnd();
        afterEvent();
      },
      close(s) {
        s.data?.onClose();
        afterEvent();
      },
      error(s) {
        s.data?.onClose();
        afterEvent();
      },
    },
  });
  return {
    host,
    port: server.port,
    stop: async () => server.stop(true),
  };
};
