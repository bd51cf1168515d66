/**
 * Every shell and code block of README.md, executed in order, as a user of
 * the published package would: in a project that installed the `npm pack`
 * tarball, with only Node and npm on PATH (no bun; `deno` for the Deno
 * section). Conventions, for anyone adding to the README:
 *
 * - ```sh blocks run in bash with `set -e`, one command per line (no `\`
 *   continuations or here-documents); every command must exit 0. The working
 *   directory carries over from block to block, as in one terminal: the
 *   first block runs in an empty directory where `npx beanrun` works (it
 *   stands for the registry), and `cd my-app` there moves every later block
 *   into the project it created.
 * - A line that starts a long-lived process (`npm start`, `npx beanrun run`,
 *   `serve`, `tail`, `top` without `--count`, `./dist/beanrun run|serve`,
 *   `deno run ... run|serve`) is started in the background, as if in another
 *   terminal; the next line runs once it is ready: run (and npm start) once
 *   it printed "running N tubes", serve once "listening on", tail and top
 *   once they printed anything. Starting another one first stops the previous
 *   one, as a reader would with Ctrl-C. At the end of the block the test waits until the
 *   server on 127.0.0.1:11300 has no ready or reserved job left (delayed and
 *   buried ones may stay), then sends SIGTERM to its process group: every
 *   process must be gone within 30 s, without taking that one SIGTERM for a
 *   second one ("exiting now"). (npm and npx exit non-zero when signalled,
 *   so exit codes of background commands are not checked here.)
 *   Mark it "(keep it running)" in its comment so readers know.
 * - Blocks run in a private network namespace when the machine allows it
 *   (`unshare -n`), so the README's default port 11300 never meets another
 *   test's server; otherwise 11300 must be free.
 * - ```ts / ```js blocks are files: their first line is `// PATH` (relative
 *   to the current directory) and the block is written there before the
 *   blocks after it run; a later sh block runs or imports it. At the end,
 *   `npx tsc --noEmit` type-checks the project with the tsconfig init wrote.
 * - ```text blocks (output, trees) are not executed. Any other fence is an
 *   error: say what it is.
 * - `npm install` resolves `beanrun` to the tarball under test and never
 *   downloads (see test/package/consumer.ts).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Consumer, consumer, ROOT } from "./package/consumer.ts";

interface Block {
  lang: string;
  text: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
}

export function readmeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!)) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, text: body.join("\n"), line: start + 1 });
  }
  return blocks;
}

const LONG_LIVED =
  /^(npm start|npm run serve|(npx beanrun|\.\/dist\/beanrun|deno run -A \S+) (run|serve|tail)\b|(npx beanrun|\.\/dist\/beanrun) top\b(?!.*--count))/;

function isLongLived(line: string): boolean {
  return LONG_LIVED.test(line) && !/\s(-h|--help|-v|--version)(\s|$)/.test(line);
}

/** What a long-lived command prints once it is ready: run (npm start) once its workers are, the rest once they listen. */
function readyLine(line: string): string {
  if (/^npm start|\brun\b/.test(line) && !/\b(serve|tail|top)\b/.test(line)) return "running [0-9]+ tubes?";
  if (/\btail\b|\btop\b/.test(line)) return ".";
  return "listening on";
}

/** bash helpers every block's script starts with. */
const PRELUDE = String.raw`
set -eo pipefail
__bg_pids=()
__bg_logs=()
__bg_cmds=()
__bg() {
  __stop  # a reader stops the previous server (Ctrl-C) before starting the next one
  local log; log=$(mktemp)
  setsid bash -c "$1" >"$log" 2>&1 < /dev/null &
  __bg_pids+=($!); __bg_logs+=("$log"); __bg_cmds+=("$1")
  for _ in $(seq 1 600); do
    if grep -qE "$2" "$log"; then return 0; fi
    if ! kill -0 $! 2>/dev/null; then echo "background command exited early: $1"; cat "$log"; return 1; fi
    sleep 0.1
  done
  echo "background command never got ready: $1"; cat "$log"; return 1
}
# ready + reserved jobs on 127.0.0.1:11300, through bash's /dev/tcp (nothing to install)
__busy() {
  exec 9<>/dev/tcp/127.0.0.1/11300 || return 1
  printf 'stats\r\n' >&9
  local n=0 line
  while IFS= read -r -t 5 line <&9; do
    case "$line" in
      current-jobs-ready:*|current-jobs-reserved:*) n=$((n + ${"$"}{line##* })) ;;
      current-jobs-buried:*) break ;;
    esac
  done
  exec 9>&-
  echo "$n"
}
__stop() {
  local status=0 i
  if [ ${"$"}{#__bg_pids[@]} -gt 0 ]; then
    for _ in $(seq 1 300); do [ "$(__busy 2>/dev/null || echo 0)" = 0 ] && break; sleep 0.1; done
  fi
  for i in ${"$"}{!__bg_pids[@]}; do
    local pg=${"$"}{__bg_pids[$i]}
    kill -TERM -- -$pg 2>/dev/null || true
    wait $pg || true  # npm and npx report the signal they got; what counts is that everything stops
    for _ in $(seq 1 300); do kill -0 -- -$pg 2>/dev/null || break; sleep 0.1; done
    if kill -0 -- -$pg 2>/dev/null; then status=1; echo "still running 30 s after SIGTERM: ${"$"}{__bg_cmds[$i]}"; kill -KILL -- -$pg; fi
    if grep -q "exiting now" "${"$"}{__bg_logs[$i]}"; then status=1; echo "one SIGTERM was taken for two: ${"$"}{__bg_cmds[$i]}"; fi
    echo "--- background output of ${"$"}{__bg_cmds[$i]}:"; cat "${"$"}{__bg_logs[$i]}"
  done
  __bg_pids=(); __bg_logs=(); __bg_cmds=()
  return $status
}
`;

/** The bash script for one sh block: long-lived lines in the background, the directory saved at the end. */
export function blockScript(text: string, cwdOut: string): string {
  const body = text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))
    .map((l) => (isLongLived(l.trim()) ? `__bg ${shellQuote(l.trim())} ${shellQuote(readyLine(l.trim()))}` : l));
  return `${PRELUDE}
trap '__code=$?; pwd > ${shellQuote(cwdOut)}; __stop || __code=1; exit $__code' EXIT
${body.join("\n")}
`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function canUnshare(): boolean {
  const r = spawnSync("unshare", ["-n", "sh", "-c", "ip link set lo up"], { encoding: "utf8" });
  return r.status === 0;
}

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const blocks = readmeBlocks(readme);
let c: Consumer;
let cwd = "";
let netns = false;
const outputs: string[] = [];

beforeAll(async () => {
  c = await consumer();
  cwd = join(c.tmp, "readme");
  mkdirSync(cwd);
  // `npx beanrun` where the README starts must find the tarball's beanrun, as the registry would.
  writeFileSync(join(c.tmp, "package.json"), JSON.stringify({ name: "readme-registry", private: true }));
  spawnSync("ln", ["-s", join(c.workspace, "node_modules"), join(c.tmp, "node_modules")]);
  netns = canUnshare();
  if (!netns)
    console.warn("readme test: no private network namespace here (unshare -n); the README's servers use the real 127.0.0.1:11300");
}, 300_000);

describe("README.md", () => {
  test("has blocks, each of a known kind", () => {
    expect(blocks.length).toBeGreaterThan(5);
    for (const b of blocks) expect(["sh", "ts", "js", "text"]).toContain(b.lang);
  });

  for (const [i, b] of blocks.entries()) {
    if (b.lang === "text") continue;
    const title = `block ${i + 1} (line ${b.line}, ${b.lang}): ${b.text.split("\n")[0]!.slice(0, 60)}`;
    test(title, () => {
      if (b.lang === "ts" || b.lang === "js") {
        const m = /^\/\/ (\S+)$/.exec(b.text.split("\n")[0]!);
        if (!m) throw new Error(`README line ${b.line}: a ${b.lang} block must start with "// PATH"`);
        const file = resolve(cwd, m[1]!);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, b.text + "\n");
        return;
      }
      const cwdOut = join(c.tmp, "cwd");
      const script = join(c.tmp, `block-${i + 1}.sh`);
      writeFileSync(script, blockScript(b.text, cwdOut));
      const cmd = netns ? ["unshare", "-n", "bash", "-c", `ip link set lo up && exec bash ${shellQuote(script)}`] : ["bash", script];
      const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd, env: c.env, encoding: "utf8", timeout: 240_000 });
      const out = `${r.stdout}\n${r.stderr}`;
      outputs[i] = out;
      if (existsSync(cwdOut)) cwd = readFileSync(cwdOut, "utf8").trim();
      if (r.status !== 0)
        throw new Error(`README line ${b.line}: the block failed (${r.status ?? r.signal}):\n${b.text}\n--- output:\n${out}`);
    }, 300_000);
  }

  test("what the quick start puts is processed, the producers' jobs too", () => {
    const all = outputs.join("\n");
    expect(all).toContain("hello, you");
    expect(all).toContain("hello, from Node (ESM)");
    expect(all).toContain("hello, from Node (CommonJS)");
  });

  test("the project the README built type-checks with the tsconfig init wrote", () => {
    const r = spawnSync("npx", ["tsc", "--noEmit", "-p", "."], { cwd, env: c.env, encoding: "utf8", timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  }, 180_000);
});
