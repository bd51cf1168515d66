/**
 * What serve and run say when the server cannot start listening: the
 * address, the reason in words, and for the usual case on Debian and
 * Ubuntu (the beanstalkd package's socket unit holding 11300) what to do.
 */

export function listenFailure(e: unknown, host: string, port: number): string {
  const { code, syscall } = (e ?? {}) as { code?: unknown; syscall?: unknown };
  // Not a socket error (a write-ahead log that cannot be opened, ...): its own message says it.
  if (syscall !== "listen" && syscall !== "bind") return `cannot start the server: ${(e as Error)?.message ?? String(e)}`;
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch (code) {
    case "EADDRINUSE": {
      const hint =
        port === 11300
          ? " (perhaps by beanstalkd itself: Debian's beanstalkd.socket listens on 11300; `sudo systemctl disable --now beanstalkd.socket beanstalkd`, or pick another port with -p)"
          : " (pick another port with -p, or -p 0 for any free one)";
      return `cannot listen on ${where}: the address is in use${hint}`;
    }
    case "EADDRNOTAVAIL":
      return `cannot listen on ${where}: no network interface has that address (-l)`;
    case "EACCES":
      return `cannot listen on ${where}: permission denied${port < 1024 ? " (ports below 1024 need privileges)" : ""}`;
    default:
      return `cannot listen on ${where}: ${(e as Error)?.message ?? String(e)}`;
  }
}
