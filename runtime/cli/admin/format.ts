/** Text layouts shared by the admin commands: aligned `key: value` lines, tables, JSON. */

/** `key: value` lines with the values aligned in one column. */
export function keyValues(entries: ReadonlyArray<readonly [string, string | number | boolean]>): string {
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}\n`).join("");
}

export type Align = "left" | "right";

export interface Column<Row> {
  header: string;
  align: Align;
  cell(row: Row): string;
}

/** A table with a header row; columns two spaces apart, numbers right-aligned. */
export function table<Row>(columns: ReadonlyArray<Column<Row>>, rows: readonly Row[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => c.cell(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) =>
          columns[i]!.align === "right" ? cell.padStart(widths[i]!) : i === line.length - 1 ? cell : cell.padEnd(widths[i]!),
        )
        .join("  "),
    )
    .join("\n")
    .concat("\n");
}

/** Pretty JSON with a trailing newline. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
