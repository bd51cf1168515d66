// The runner's log lines: human and JSON formats, levels, merged fields.
import { expect, test } from "bun:test";
import { createLogger } from "../../runtime/runner/log.ts";

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

test("human lines: time, padded level, tube, #id, message, then key=value fields", () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (l) => lines.push(l) }, { tube: "email", worker: 2 }).child({ id: 12 });
  log.info("done", { attempt: 1, ms: 3.1, note: "two words", err: new Error("bad thing"), skip: undefined });
  log.debug("hidden");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(TIME);
  expect(lines[0]!.slice(24)).toBe(' info  email #12 done worker=2 attempt=1 ms=3.1 note="two words" err="bad thing"');
});

test("a field given per line overrides the logger's own", () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (l) => lines.push(l) }, { tube: "t", event: "base" });
  log.warn("x", { event: "line", tube: "u" });
  expect(lines[0]!.slice(24)).toBe(" warn  u x event=line");
});

test("JSON lines: one object with time, level, fields, msg; errors as their message; level filter", () => {
  const lines: string[] = [];
  const log = createLogger({ format: "json", level: "warn", sink: (l) => lines.push(l) }, { tube: "t" });
  log.info("dropped");
  log.error("failed", { id: 5, error: new Error("boom") });
  expect(lines).toHaveLength(1);
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(Object.keys(o)).toEqual(["time", "level", "tube", "id", "error", "msg"]);
  expect(o).toMatchObject({ level: "error", tube: "t", id: 5, error: "boom", msg: "failed" });
  expect(String(o.time)).toMatch(TIME);
});
