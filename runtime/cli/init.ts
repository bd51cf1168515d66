/**
 * `beanrun init [DIR]`: scaffolds a project that works as it is:
 * `npm install && npm start` runs the server and a worker for
 * jobs/hello.ts, whose schedule puts a job every 10 seconds. Files that
 * already exist are kept (an existing package.json only gains the scripts
 * and dependencies it lacks), so init can be run in an existing app.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import process from "node:process";
import { VERSION } from "../version.ts";
import { type FlagSpec, HELP, parseFlags, UsageError, usageFailure } from "./flags.ts";

const USAGE = `Use: beanrun init [DIR]

Creates a beanrun project in DIR (default: the current directory):
  package.json   scripts start (beanrun run), build (beanrun build), typecheck
  tsconfig.json  for type-checking the jobs with tsc
  jobs/hello.ts  a job with a schema and a schedule (a job every 10 s)
  .gitignore, README.md
Existing files are kept; an existing package.json gains only what it lacks.`;

const FLAGS: readonly FlagSpec[] = [HELP];

const SCRIPTS: Record<string, string> = {
  start: "beanrun run",
  serve: "beanrun serve",
  build: "beanrun build",
  typecheck: "tsc --noEmit",
};
const DEPENDENCIES: Record<string, string> = { beanrun: `^${VERSION}`, valibot: "^1.5.0" };
const DEV_DEPENDENCIES: Record<string, string> = { typescript: "^5.9.3", "@types/node": "^26.6.6" };

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "ESNext",
    "moduleResolution": "bundler",
    "types": ["node"],
    "strict": true,
    "allowImportingTsExtensions": true,
    "verbatimModuleSyntax": true,
    "skipLibCheck": true,
    "noEmit": true
  },
  "include": ["jobs", "*.ts"]
}
`;

const HELLO = `// The file name is the tube: jobs put on the tube "hello" run this handler.
import * as v from "valibot";
import { defineJob } from "beanrun";

export default defineJob({
  schema: v.object({ name: v.string() }),
  // Puts { name: "world" } every 10 seconds while \`npm start\` runs; remove it when you have real work.
  schedule: { cron: "*/10 * * * * *", payload: { name: "world" } },
  async handler(payload, ctx) {
    ctx.log.info(\`hello, \${payload.name}\`);
  },
});
`;

const GITIGNORE = `node_modules/
dist/
`;

function readme(name: string): string {
  return `# ${name}

Background jobs with [beanrun](https://www.npmjs.com/package/beanrun): a
beanstalkd-compatible server and one worker process per file in \`jobs/\`.

    npm install
    npm start                                   # server on 127.0.0.1:11300 + a worker per jobs/<tube>.ts
    npx beanrun put hello '{"name":"you"}'      # from another terminal
    npx beanrun tubes                           # what is queued
    npm run build && ./dist/beanrun run         # one executable with every job in it

Add a job: create \`jobs/<tube>.ts\` exporting \`defineJob({...})\`. Files whose
name starts with \`_\` are helpers, not jobs.
`;
}

export async function main(argv: string[]): Promise<number> {
  let dir: string;
  try {
    const args = parseFlags(argv, FLAGS);
    if (args.switches.has("help")) {
      console.log(USAGE);
      return 0;
    }
    if (args.positionals.length > 1) throw new UsageError(`unexpected argument "${args.positionals[1]}"`);
    dir = resolve(args.positionals[0] ?? ".");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageFailure("init", e, USAGE);
  }
  const name =
    basename(dir)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-")
      .replace(/^[._-]+/, "") || "jobs";
  mkdirSync(join(dir, "jobs"), { recursive: true });
  const done: string[] = [];
  const kept: string[] = [];
  const write = (file: string, text: string): void => {
    const p = join(dir, file);
    if (existsSync(p)) kept.push(file);
    else {
      writeFileSync(p, text);
      done.push(file);
    }
  };
  try {
    const pkgPath = join(dir, "package.json");
    if (existsSync(pkgPath)) {
      if (mergePackageJson(pkgPath)) done.push("package.json (scripts and dependencies added)");
      else kept.push("package.json");
    } else {
      writeFileSync(pkgPath, `${JSON.stringify(newPackageJson(name), null, 2)}\n`);
      done.push("package.json");
    }
  } catch (e) {
    console.error(`beanrun init: ${join(dir, "package.json")}: ${(e as Error).message}`);
    return 1;
  }
  write("tsconfig.json", TSCONFIG);
  write("jobs/hello.ts", HELLO);
  write(".gitignore", GITIGNORE);
  write("README.md", readme(name));

  const where = relative(process.cwd(), dir) || ".";
  for (const f of done) console.log(`created ${join(where, f)}`);
  for (const f of kept) console.log(`kept    ${join(where, f)} (exists)`);
  console.log(`\nNext:${where === "." ? "" : ` cd ${where} &&`} npm install && npm start`);
  return 0;
}

function newPackageJson(name: string): object {
  return { name, private: true, type: "module", scripts: SCRIPTS, dependencies: DEPENDENCIES, devDependencies: DEV_DEPENDENCIES };
}

/** Adds missing scripts and dependencies; true when something was added. */
function mergePackageJson(path: string): boolean {
  const pkg = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  if (typeof pkg !== "object" || pkg === null || Array.isArray(pkg)) throw new Error("is not a JSON object");
  let changed = false;
  const add = (field: string, entries: Record<string, string>, skipIn: Record<string, unknown>[] = []): void => {
    const have = (pkg[field] ??= {}) as Record<string, string>;
    for (const [k, v] of Object.entries(entries)) {
      if (k in have || skipIn.some((o) => k in o)) continue;
      have[k] = v;
      changed = true;
    }
  };
  add("scripts", SCRIPTS);
  add("dependencies", DEPENDENCIES, [(pkg.devDependencies ?? {}) as Record<string, unknown>]);
  add("devDependencies", DEV_DEPENDENCIES, [(pkg.dependencies ?? {}) as Record<string, unknown>]);
  if (changed) writeFileSync(path, `${JSON.stringify(pkg, null, 2)}\n`);
  return changed;
}
