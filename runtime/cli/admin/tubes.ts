/** `beanrun tubes`: every tube's job counts, waiting workers and pause state. */
import { adminMain, out } from "./command.ts";
import { type Column, jsonText, table } from "./format.ts";
import { pausedCell, type TubeRow, tubeRow, tubeStats } from "./snapshot.ts";

const USAGE = `Use: beanrun tubes [--json] [-s HOST:PORT]

One line per tube: jobs ready, reserved, delayed, buried and urgent (ready
with priority < 1024), connections waiting to reserve, and the time left of a
pause. --json prints an array of
  {name, ready, reserved, delayed, buried, urgent, waiting, paused, pause-time-left}.

  -s, --server HOST:PORT   the server (default $BEANRUN_SERVER, else 127.0.0.1:11300)
  --json                   JSON instead of a table`;

const num = (header: string, get: (r: TubeRow) => number): Column<TubeRow> => ({ header, align: "right", cell: (r) => String(get(r)) });

/** The tube and its job counts: the leading columns here and in `top`. */
export const COUNT_COLUMNS: ReadonlyArray<Column<TubeRow>> = [
  { header: "TUBE", align: "left", cell: (r) => r.name },
  num("READY", (r) => r.ready),
  num("RESERVED", (r) => r.reserved),
  num("DELAYED", (r) => r.delayed),
  num("BURIED", (r) => r.buried),
  num("URGENT", (r) => r.urgent),
  num("WAITING", (r) => r.waiting),
];

export const PAUSED_COLUMN: Column<TubeRow> = { header: "PAUSED", align: "left", cell: pausedCell };

const COLUMNS: ReadonlyArray<Column<TubeRow>> = [...COUNT_COLUMNS, PAUSED_COLUMN];

export const main = adminMain({
  name: "tubes",
  usage: USAGE,
  json: true,
  positionals: { min: 0, max: 0 },
  async run({ client, json }) {
    const rows = (await tubeStats(client)).map(tubeRow);
    await out(json ? jsonText(rows) : table(COLUMNS, rows));
  },
});
