/**
 * Kubernetes manifests checked offline (test/deploy/kubernetes.test.ts):
 *
 * - schema: each document is validated by `kubernetes-models` (the
 *   Kubernetes OpenAPI schemas compiled to validators, bundled in the npm
 *   package) or `@kubernetes-models/keda` (KEDA's CRD schemas): types,
 *   required fields, enums, formats. Like kubectl without strict mode, those
 *   schemas let unknown fields through, so:
 * - strict: the same documents become object literals typed by the packages'
 *   TypeScript interfaces (IStatefulSet, IScaledObject, ...) and tsc's excess
 *   property check rejects any field the API does not have (kubeconform's
 *   -strict, done with the type checker we already have).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/servers.ts";

/** A parsed document: whatever the YAML holds until validated (tests read it freely). */
// biome-ignore lint/suspicious/noExplicitAny: the shape is what is being checked.
export type Doc = Record<string, any>;

export interface Manifest {
  file: string;
  /** Index of the document in its file. */
  index: number;
  doc: Doc;
  /** The document's text, comments included. */
  text: string;
}

/** Every document of every *.yaml in `dir` except kustomization.yaml. */
export function loadManifests(dir: string): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort()) {
    const texts = readFileSync(join(dir, file), "utf8").split(/^---\s*$/m);
    texts.forEach((text, index) => {
      const doc = Bun.YAML.parse(text) as Doc | null;
      if (doc) out.push({ file, index, doc, text });
    });
  }
  return out;
}

/** The package module and interface for an apiVersion/kind, or undefined. */
export function modelOf(doc: Doc): { module: string; iface: string; kind: string } | undefined {
  const { apiVersion, kind } = doc as { apiVersion?: string; kind?: string };
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^\w+$/.test(kind)) return undefined;
  if (apiVersion.startsWith("keda.sh/")) return { module: `@kubernetes-models/keda/${apiVersion}/${kind}`, iface: `I${kind}`, kind };
  return { module: `kubernetes-models/${apiVersion}/${kind}`, iface: `I${kind}`, kind };
}

/** Schema validation: "" when valid, else the validator's message. */
export async function validateSchema(doc: Doc): Promise<string> {
  const m = modelOf(doc);
  if (!m) return `no apiVersion/kind`;
  let Model: new (d: Doc) => { validate(): void };
  try {
    Model = (await import(m.module))[m.kind];
  } catch {
    return `no schema for ${doc.apiVersion} ${doc.kind}`;
  }
  try {
    new Model(doc).validate();
    return "";
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Strict check: tsc over one file holding every document as a typed literal.
 * Returns tsc's diagnostics ("" when clean), each naming the literal's
 * `label` so a failure points at file and document.
 */
export function strictCheck(items: { label: string; doc: Doc }[]): string {
  mkdirSync(join(ROOT, "tmp"), { recursive: true });
  const dir = mkdtempSync(join(ROOT, "tmp", "k8s-strict-")); // inside the project: node_modules resolves
  try {
    const lines: string[] = [];
    items.forEach(({ label, doc }, i) => {
      const m = modelOf(doc);
      if (!m) return;
      lines.push(`import type { ${m.iface} as T${i} } from ${JSON.stringify(m.module)};`);
      lines.push(`// ${label}\nexport const doc${i}: T${i} = ${JSON.stringify(doc, null, 1)};`);
    });
    writeFileSync(join(dir, "manifests.ts"), lines.join("\n"));
    const compilerOptions = {
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      target: "ES2022",
      module: "ESNext",
      moduleResolution: "bundler",
      types: [],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["manifests.ts"] }));
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", dir], { cwd: dir, encoding: "utf8" });
    if (r.status === 0) return "";
    // Name the document each diagnostic is in.
    const src = readFileSync(join(dir, "manifests.ts"), "utf8").split("\n");
    return (r.stdout + r.stderr).replace(/manifests\.ts\((\d+),\d+\)/g, (s, line: string) => {
      for (let l = Number(line) - 1; l >= 0; l--) if (src[l]!.startsWith("// ")) return `${src[l]!.slice(3)} (${s})`;
      return s;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The container image's USER as numbers. */
export function imageUser(containerfile: string): { uid: number; gid: number } {
  const users = [...containerfile.matchAll(/^USER\s+(\d+):(\d+)\s*$/gm)];
  const last = users.at(-1);
  if (!last) throw new Error("the Containerfile has no numeric USER uid:gid");
  return { uid: Number(last[1]), gid: Number(last[2]) };
}
