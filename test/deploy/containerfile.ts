/**
 * Just enough of the Containerfile format to run an image's build without a
 * container daemon (test/deploy/container.test.ts): parse the stages, list
 * the build context as .dockerignore leaves it, and replay each stage in a
 * directory that stands for that stage's filesystem root.
 *
 * Supported: FROM ... AS name, WORKDIR, COPY [--from=stage] [--chown=u:g]
 * src... dest, RUN (shell form, run by sh in the mapped WORKDIR), ENV, USER,
 * VOLUME, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD; `\` line continuations and
 * comments. Anything else is an error, so a new instruction cannot be skipped
 * silently. RUN commands see the host's tools (node, npm), not the base
 * image's: the replay checks our steps, not the base images.
 */
import { spawnSync } from "node:child_process";
import { chownSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix } from "node:path";

export interface Instruction {
  op: string;
  /** Flags such as --from=build, --chown=10001:10001, --interval=30s. */
  flags: Record<string, string>;
  /** The rest of the line, unparsed. */
  rest: string;
}

export interface Stage {
  base: string;
  name: string | undefined;
  steps: Instruction[];
}

const KNOWN = new Set(["FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD"]);

export function parseContainerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Containerfile: cannot read "${line}"`);
    const op = m[1]!.toUpperCase();
    if (!KNOWN.has(op)) throw new Error(`Containerfile: ${op} is not supported by the replay (test/deploy/containerfile.ts)`);
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    for (let f = /^--([\w-]+)=(\S+)\s+/.exec(rest); f; f = /^--([\w-]+)=(\S+)\s+/.exec(rest)) {
      flags[f[1]!] = f[2]!;
      rest = rest.slice(f[0].length);
    }
    if (op === "FROM") {
      const [base, as, name] = rest.split(/\s+/);
      stages.push({ base: base!, name: as?.toUpperCase() === "AS" ? name : undefined, steps: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Containerfile: ${op} before FROM`);
      stage.steps.push({ op, flags, rest });
    }
  }
  return stages;
}

/** The exec form `["a", "b"]` as an array (shell form is refused: it needs a shell in the image). */
export function execForm(rest: string): string[] {
  const v: unknown = JSON.parse(rest);
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`not an exec-form array: ${rest}`);
  return v;
}

/** `ENV A=1 B=2` (the key=value form) as pairs. */
export function envPairs(rest: string): [string, string][] {
  return [...rest.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => [m[1]!, m[2]!.startsWith('"') ? JSON.parse(m[2]!) : m[2]!]);
}

/** .dockerignore as predicates over context-relative paths ("**", "*", "!" exceptions; last match wins). */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const keep = l.startsWith("!");
      const pattern = posix.normalize((keep ? l.slice(1) : l).replace(/^\/+/, ""));
      return { keep, glob: new Bun.Glob(pattern) };
    });
  return (path) => {
    let ignored = false;
    // A pattern that matches a directory excludes everything under it.
    const parts = path.split("/");
    for (const r of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (r.glob.match(parts.slice(0, i).join("/"))) {
          ignored = !r.keep;
          break;
        }
      }
    }
    return ignored;
  };
}

/** Every file of the build context, context-relative, as docker would send it. */
export function contextFiles(dir: string): string[] {
  const ignored = existsSync(join(dir, ".dockerignore")) ? dockerignore(readFileSync(join(dir, ".dockerignore"), "utf8")) : () => false;
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      if (ignored(path)) continue;
      const st = lstatSync(join(dir, path));
      if (st.isDirectory()) walk(path);
      else out.push(path);
    }
  };
  walk("");
  return out.sort();
}

export interface Replayed {
  /** Host directory standing for each stage's "/" (by name, and "final"). */
  roots: Map<string, string>;
  /** The final stage's settings. */
  user: string | undefined;
  workdir: string;
  env: Record<string, string>;
  volumes: string[];
  exposed: number[];
  healthcheck: string[] | undefined;
  entrypoint: string[];
  cmd: string[];
}

/**
 * Replays every stage under `out` (one directory per stage), copying from the
 * context `context` (already filtered). RUN output goes to `log`.
 */
export function replay(stages: Stage[], context: string, out: string, log: (s: string) => void): Replayed {
  const roots = new Map<string, string>();
  let last: Omit<Replayed, "roots"> | undefined;
  stages.forEach((stage, i) => {
    const root = join(out, `stage-${i}`);
    mkdirSync(root, { recursive: true });
    roots.set(stage.name ?? String(i), root);
    const s: Omit<Replayed, "roots"> = {
      user: undefined,
      workdir: "/",
      env: {},
      volumes: [],
      exposed: [],
      healthcheck: undefined,
      entrypoint: [],
      cmd: [],
    };
    const at = (p: string): string => join(root, posix.resolve(s.workdir, p));
    for (const step of stage.steps) {
      switch (step.op) {
        case "WORKDIR":
          s.workdir = posix.resolve(s.workdir, step.rest);
          mkdirSync(at("."), { recursive: true });
          break;
        case "ENV":
          for (const [k, v] of envPairs(step.rest)) s.env[k] = v;
          break;
        case "COPY":
          copy(step, step.flags.from ? roots.get(step.flags.from) : context, at);
          break;
        case "RUN": {
          log(`RUN ${step.rest}\n`);
          const r = spawnSync("sh", ["-c", step.rest], { cwd: at("."), env: { ...process.env, ...s.env }, encoding: "utf8" });
          log(r.stdout + r.stderr);
          if (r.status !== 0) throw new Error(`RUN ${step.rest} failed (${r.status ?? r.signal})`);
          break;
        }
        case "USER":
          s.user = step.rest.trim();
          break;
        case "VOLUME":
          s.volumes.push(...(step.rest.startsWith("[") ? execForm(step.rest) : step.rest.split(/\s+/)));
          break;
        case "EXPOSE":
          s.exposed.push(...step.rest.split(/\s+/).map((p) => Number.parseInt(p, 10)));
          break;
        case "HEALTHCHECK":
          s.healthcheck = execForm(step.rest.replace(/^CMD\s+/, ""));
          break;
        case "ENTRYPOINT":
          s.entrypoint = execForm(step.rest);
          break;
        case "CMD":
          s.cmd = execForm(step.rest);
          break;
      }
    }
    last = s;
  });
  roots.set("final", roots.get(stages.at(-1)?.name ?? String(stages.length - 1))!);
  return { roots, ...last! };
}

/** COPY src... dest, with docker's rules: a directory's contents are copied; --chown applies when we are root. */
function copy(step: Instruction, from: string | undefined, at: (p: string) => string): void {
  if (!from) throw new Error(`COPY --from=${step.flags.from}: no such stage`);
  const words = step.rest.split(/\s+/);
  const dest = words.pop()!;
  for (const src of words) {
    const source = join(from, src);
    if (!existsSync(source)) throw new Error(`COPY ${src}: not in the ${step.flags.from ? `stage ${step.flags.from}` : "context"}`);
    // A directory's contents go into dest; a file goes to dest, or into it when dest ends in "/".
    const isDir = statSync(source).isDirectory();
    const into = isDir || !dest.endsWith("/") ? at(dest) : join(at(dest), posix.basename(src));
    mkdirSync(isDir ? into : dirname(into), { recursive: true });
    cpSync(source, into, { recursive: true });
    const chown = step.flags.chown;
    if (chown && process.getuid?.() === 0) {
      const [u, g] = chown.split(":").map(Number);
      const own = (p: string): void => {
        chownSync(p, u!, g ?? u!);
        if (statSync(p).isDirectory()) for (const n of readdirSync(p)) own(join(p, n));
      };
      own(into);
    }
  }
}
