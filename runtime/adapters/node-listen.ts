/** Transport on node:net, for Deno and any runtime without Bun's sockets; connections over the descriptor budget closed at once. */
import * as net from "node:net";
import { AcceptGate } from "./accept-gate.ts";
import type { Listen, TransportSocket } from "./transport.ts";

/** Deno opens about 60 descriptors of its own once connections arrive (accept-gate.ts). */
const DENO_MARGIN = 128;

export const listen: Listen = (host, port, accept, afterEvent, log = (l) => console.error(l)) =>
  new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    const gate = AcceptGate.forProcess(log, DENO_MARGIN);
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      if (!gate.admit()) {
        s.on("error", () => {});
        s.destroy();
        return;
      }
      sockets.add(s);
      const sock: TransportSocket = {
        // node:net keeps a reference to what it is given: hand it a copy.
        write: (d, start, end) => {
          s.write(Uint8Array.prototype.slice.call(d, start, end));
          return end - start;
        },
        end: () => void s.end(),
        pause: () => void s.pause(),
        resume: () => void s.resume(),
      };
      const ev = accept(sock);
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        sockets.delete(s);
        gate.release();
        ev.onClose();
        afterEvent();
      };
      s.on("data", (chunk: Uint8Array) => {
        ev.onData(chunk);
        afterEvent();
      });
      s.on("drain", () => {
        ev.onDrain();
        afterEvent();
      });
      s.on("end", () => {
        ev.onEnd();
        afterEvent();
      });
      s.on("close", close);
      s.on("error", close);
    });
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address() as net.AddressInfo;
      resolve({
        host,
        port: addr.port,
        stop: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
