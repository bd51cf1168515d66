/**
 * deploy/kubernetes/ checked as far as a machine without a cluster allows:
 *
 * - every document against the Kubernetes and KEDA schemas, then strictly
 *   (no unknown fields), offline (test/deploy/manifests.ts), each check with
 *   a negative control so it is known to bite;
 * - the wiring between them: the headless Service of the StatefulSet, the
 *   image placeholder the operator is told to set, securityContext ids equal
 *   to the image's USER, probes, the state volume, one worker Deployment and
 *   one ScaledObject per tube naming each other and a real jobs/ module;
 * - the contract KEDA's beanstalkd scaler relies on, against our real server
 *   (`stats-tube` counts, NOT_FOUND for a tube that does not exist yet);
 * - the worker command lines exactly as written, run against a local server,
 *   with their HTTP probes and a Prometheus scrape answered.
 *
 * Not checked: scheduling on a real cluster, KEDA's operator itself.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, type ServerProcess, startOurs } from "../support/servers.ts";
import { Wire } from "../support/wire.ts";
import { launch, ORDER, putJob, waitForFile } from "./launch.ts";
import { type Doc, imageUser, loadManifests, strictCheck, validateSchema } from "./manifests.ts";

const DIR = join(ROOT, "deploy/kubernetes");
const manifests = loadManifests(DIR);
// The wiring checks look at beanrun's own objects; other files here (a database, say) get the schema checks only.
const ours = manifests.filter((m) => m.doc.metadata?.labels?.["app.kubernetes.io/name"] === "beanrun" || m.doc.kind === "Namespace");
const of = (kind: string): Doc[] => ours.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const kustomization = Bun.YAML.parse(readFileSync(join(DIR, "kustomization.yaml"), "utf8")) as Doc;
const containerfile = readFileSync(join(ROOT, "deploy/container/Containerfile"), "utf8");
const user = imageUser(containerfile);
const stateVolume = /^VOLUME\s+(\S+)/m.exec(containerfile)![1]!;
const podSpecs = [...of("StatefulSet"), ...of("Deployment")].map((w) => ({
  name: w.metadata.name as string,
  spec: w.spec.template.spec as Doc,
}));
const workers = of("Deployment").map((d) => {
  const args = d.spec.template.spec.containers[0].args as string[];
  return { name: d.metadata.name as string, args, tube: args[args.indexOf("--only") + 1]!, connect: args[args.indexOf("--connect") + 1]! };
});

test("every manifest passes the Kubernetes and KEDA schemas (negative control: a string replica count is refused)", async () => {
  const errors: string[] = [];
  for (const m of manifests) {
    const e = await validateSchema(m.doc);
    if (e) errors.push(`${m.file} #${m.index} ${m.doc.kind}: ${e}`);
  }
  expect(errors).toEqual([]);
  expect(ours.map((m) => m.doc.kind).sort()).toEqual(
    expect.arrayContaining(["Deployment", "Namespace", "ScaledObject", "Service", "Service", "StatefulSet"]),
  );
  const bad = structuredClone(of("StatefulSet")[0]!);
  bad.spec.replicas = "1";
  expect(await validateSchema(bad)).toContain("replicas must be integer");
});

test("strict: no field that the API does not have (negative control: a misspelt probe)", () => {
  const typo = structuredClone(of("StatefulSet")[0]!);
  typo.spec.template.spec.containers[0].readinesProbe = { periodSeconds: 5 };
  const items = manifests.map((m) => ({ label: `${m.file} #${m.index} ${m.doc.kind} ${m.doc.metadata?.name}`, doc: m.doc }));
  const out = strictCheck([...items, { label: "negative control", doc: typo }]);
  const complaints = out.split("\n").filter((l) => l.includes("error TS"));
  expect(complaints.length).toBeGreaterThan(0);
  expect(complaints.filter((l) => !l.startsWith("negative control"))).toEqual([]);
  expect(out).toContain("readinesProbe");
}, 120_000);

test("the StatefulSet's serviceName is a headless Service selecting its pods; clients get a Service too", () => {
  const [sts] = of("StatefulSet");
  const services = of("Service");
  const headless = services.find((s) => s.metadata.name === sts!.spec.serviceName);
  expect(headless?.spec.clusterIP).toBe("None");
  expect(sts!.spec.replicas).toBe(1);
  const labels = sts!.spec.template.metadata.labels as Record<string, string>;
  for (const s of services) expect(labels).toMatchObject(s.spec.selector);
  const [host, port] = workers[0]!.connect.split(":");
  const client = services.find((s) => s.metadata.name === host);
  expect(client?.spec.ports.map((p: Doc) => String(p.port))).toContain(port);
});

test("one image placeholder everywhere, which the files tell the operator to set (kustomization.yaml sets it once)", () => {
  const images = podSpecs.flatMap((p) => p.spec.containers.map((c: Doc) => c.image as string));
  expect(new Set(images).size).toBe(1);
  const [image] = images;
  const entry = (kustomization.images as Doc[]).find((i) => image!.startsWith(`${i.name}:`));
  expect(entry).toBeDefined();
  for (const f of ["server.yaml", "workers.yaml"]) expect(readFileSync(join(DIR, f), "utf8")).toMatch(/^# IMAGE: .*set/m);
  for (const r of kustomization.resources as string[]) expect(existsSync(join(DIR, r))).toBe(true);
  expect(of("Namespace").map((n) => n.metadata.name)).toEqual([kustomization.namespace]);
});

test(`pods run as the image's user ${user.uid}:${user.gid}, unprivileged, read-only root, with probes`, () => {
  for (const { name, spec } of podSpecs) {
    expect({ name, ...spec.securityContext }).toMatchObject({ name, runAsNonRoot: true, runAsUser: user.uid, runAsGroup: user.gid });
    for (const c of spec.containers as Doc[]) {
      expect({ name, ...c.securityContext }).toEqual({
        name,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(c.readinessProbe, name).toBeDefined();
      // Every writable path is a volume: the state directory and /tmp.
      expect(c.volumeMounts.map((v: Doc) => v.mountPath).sort()).toEqual([stateVolume, "/tmp"].sort());
    }
  }
  const [sts] = of("StatefulSet");
  const server = sts!.spec.template.spec;
  expect(server.securityContext.fsGroup).toBe(user.gid);
  expect(server.containers[0].livenessProbe).toBeDefined();
  expect(server.containers[0].startupProbe).toBeDefined();
  // The log is on the claim mounted at the image's state volume, and metrics are announced.
  // The args are the image's CMD, which test/deploy/container.test.ts runs.
  const args = server.containers[0].args as string[];
  expect(args).toEqual(JSON.parse(/^CMD\s+(.*)$/m.exec(containerfile)![1]!));
  expect(args[args.indexOf("-b") + 1]!.startsWith(`${stateVolume}/`)).toBe(true);
  const data = server.containers[0].volumeMounts.find((v: Doc) => v.mountPath === stateVolume).name;
  expect(sts!.spec.volumeClaimTemplates.map((c: Doc) => c.metadata.name)).toContain(data);
  const http = server.containers[0].ports.find((p: Doc) => p.name === "http").containerPort;
  expect(sts!.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": String(http) });
  // The console's Host check is told the pod's IP (Prometheus scrapes by it) and the names in-cluster clients use.
  const allowed = serverAllowedHosts();
  expect(allowed).toContain(POD.ip);
  for (const svc of of("Service")) {
    const names =
      svc.spec.clusterIP === "None"
        ? [`${POD.name}.${svc.metadata.name}`, `${POD.name}.${svc.metadata.name}.${POD.namespace}.svc.cluster.local`]
        : [svc.metadata.name, `${svc.metadata.name}.${POD.namespace}.svc`, `${svc.metadata.name}.${POD.namespace}.svc.cluster.local`];
    for (const n of names) expect(allowed, svc.metadata.name).toContain(n);
  }
});

const POD_IP_ALLOWED = { name: "BEANRUN_HTTP_ALLOW_HOST", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } };
/** What the downward API gives the server pod, for expanding its env as Kubernetes does. */
const POD = { ip: "10.0.0.9", name: "beanrun-0", namespace: kustomization.namespace as string };

/** A container's env as Kubernetes sets it: fieldRefs from POD, $(VAR) expanded from the variables defined before it. */
function podEnv(env: Doc[]): Record<string, string> {
  const fields: Record<string, string> = { "status.podIP": POD.ip, "metadata.name": POD.name, "metadata.namespace": POD.namespace };
  const out: Record<string, string> = {};
  for (const e of env) {
    const path = e.valueFrom?.fieldRef?.fieldPath as string | undefined;
    if (path !== undefined) {
      if (!(path in fields)) throw new Error(`env ${e.name}: no test value for fieldRef ${path}`);
      out[e.name] = fields[path]!;
    } else if (typeof e.value === "string") out[e.name] = e.value.replace(/\$\((\w+)\)/g, (m: string, v: string) => out[v] ?? m);
  }
  return out;
}

function serverAllowedHosts(): string[] {
  const env = podEnv(of("StatefulSet")[0]!.spec.template.spec.containers[0].env as Doc[]);
  const list = env.BEANRUN_HTTP_ALLOW_HOST ?? "";
  expect(list).not.toContain("$("); // every variable it names is defined before it
  return list.split(",").map((n) => n.trim());
}

test("worker pods: HTTP liveness and readiness probes and Prometheus annotations on the port their --http serves", () => {
  for (const d of of("Deployment")) {
    const c = d.spec.template.spec.containers[0] as Doc;
    const args = c.args as string[];
    const port = Number(args[args.indexOf("--http") + 1]!.split(":").pop());
    const named = (c.ports as Doc[]).find((p) => p.containerPort === port);
    expect(named?.name, d.metadata.name).toBeDefined();
    expect(c.readinessProbe.httpGet, d.metadata.name).toEqual({ path: "/readyz", port: named!.name });
    expect(c.livenessProbe.httpGet, d.metadata.name).toEqual({ path: "/healthz", port: named!.name });
    expect(d.spec.template.metadata.annotations).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": String(port),
      "prometheus.io/path": "/metrics",
    });
    expect(c.env).toContainEqual(POD_IP_ALLOWED);
  }
});

test("one worker Deployment and one ScaledObject per tube, naming each other and a module in jobs/", () => {
  const scaled = ours.filter((m) => m.doc.kind === "ScaledObject");
  expect(scaled.length).toBe(workers.length);
  for (const w of workers) {
    expect(existsSync(join(ROOT, "jobs", `${w.tube}.ts`)), w.tube).toBe(true);
    expect(of("Deployment").find((d) => d.metadata.name === w.name)!.spec.replicas).toBeUndefined(); // KEDA owns it
    const so = scaled.filter((s) => s.doc.spec.scaleTargetRef.name === w.name);
    expect(so.length).toBe(1);
    const { doc, text } = so[0]!;
    expect(text).toContain(`# Scales ${w.name} on tube "${w.tube}"`);
    expect(doc.spec.minReplicaCount).toBe(0);
    expect(doc.spec.triggers).toHaveLength(1);
    const t = doc.spec.triggers[0];
    expect(t.type).toBe("beanstalkd");
    expect(t.metadata.tube).toBe(w.tube);
    // KEDA connects from its own namespace: the address must name ours.
    const [svc, port] = w.connect.split(":");
    expect(t.metadata.server).toBe(`${svc}.${kustomization.namespace}.svc:${port}`);
    for (const k of ["value", "activationValue", "timeout"]) expect(t.metadata[k]).toMatch(/^\d+$/);
  }
});

let server: ServerProcess | undefined;
beforeAll(async () => {
  server = await startOurs();
});
afterAll(async () => {
  await server?.stop();
});

test("KEDA's beanstalkd scaler contract: stats-tube gives ready + reserved; a tube that does not exist is NOT_FOUND (KEDA counts 0)", async () => {
  const w = await Wire.open(server!.port);
  try {
    await w.cmd("use keda\r\n");
    for (const delay of [0, 0, 0, 600]) expect(await w.cmd(`put 0 ${delay} 60 1\r\nx\r\n`)).toMatch(/^INSERTED/);
    await w.cmd("watch keda\r\n");
    expect(await w.cmd("reserve\r\n")).toMatch(/^RESERVED/);
    const stats = await w.cmd("stats-tube keda\r\n");
    const yaml = Bun.YAML.parse(stats.slice(stats.indexOf("\r\n") + 2, -2)) as Record<string, number>;
    // What KEDA computes (pkg/scalers/beanstalkd_scaler.go): includeDelayed false.
    expect(yaml["current-jobs-ready"]! + yaml["current-jobs-reserved"]!).toBe(3);
    expect(yaml["current-jobs-delayed"]).toBe(1);
    expect(await w.cmd("stats-tube never-used\r\n")).toBe("NOT_FOUND\r\n");
  } finally {
    w.close();
  }
});

const runHelp = Bun.spawnSync([process.execPath, join(ROOT, "runtime/cli.ts"), "run", "-h"], { stdout: "pipe", stderr: "pipe" });
const hasOnly = (runHelp.stdout.toString() + runHelp.stderr.toString()).includes("--only");
if (!hasOnly) console.warn("test/deploy/kubernetes.test.ts: `run --only` is not in this tree yet: the worker command lines are not run");

test.skipIf(!hasOnly)(
  "each worker Deployment's command line, as written, serves its tube against the server",
  async () => {
    const outbox = mkdtempSync(join(tmpdir(), "beanrun-k8s-worker-"));
    try {
      for (const w of workers) {
        // The server's address and the pod's HTTP port become local ones; 10.0.0.7 stands for the pod's IP.
        const http = w.args[w.args.indexOf("--http") + 1];
        const args = w.args.map((a) => (a === w.connect ? `127.0.0.1:${server!.port}` : a === http ? "127.0.0.1:0" : a));
        const run = await launch([process.execPath, join(ROOT, "runtime/cli.ts"), ...args], {
          cwd: ROOT,
          env: { ...process.env, BEANRUN_OUTBOX: outbox, SMTP_URL: "", BEANRUN_HTTP_ALLOW_HOST: "10.0.0.7" },
          ready: /"event":"http","url":"http:\/\/127\.0\.0\.1:(\d+)"/,
        });
        try {
          expect(run.stderr()).toContain(w.tube);
          // The probes as the manifest has them, and a scrape as Prometheus sends it (Host: the pod's IP).
          const pod = of("Deployment").find((d) => d.metadata.name === w.name)!.spec.template.spec.containers[0] as Doc;
          const url = (path: string) => `http://127.0.0.1:${run.port}${path}`;
          for (const probe of [pod.livenessProbe, pod.readinessProbe]) {
            const end = Date.now() + 15_000;
            let code = 0;
            while ((code = (await fetch(url(probe.httpGet.path))).status) !== 200 && Date.now() < end) await Bun.sleep(50);
            expect(code, probe.httpGet.path).toBe(200);
          }
          const scrape = await fetch(url("/metrics"), { headers: { host: "10.0.0.7:8080" } });
          expect(scrape.status).toBe(200);
          expect(await scrape.text()).toContain(`beanrun_worker_processes{tube="${w.tube}"}`);
          if (w.tube === "order-confirmation") {
            await putJob(server!.port, w.tube, JSON.stringify(ORDER));
            await waitForFile(join(outbox, "order-A-1001.eml"));
          }
        } finally {
          expect(await run.stop()).toBe(0);
        }
      }
    } finally {
      rmSync(outbox, { recursive: true, force: true });
    }
  },
  120_000,
);

test("the server pod's command line, as written, answers its probes, and /metrics by the names its Services give it", async () => {
  const c = of("StatefulSet")[0]!.spec.template.spec.containers[0] as Doc;
  const args = c.args as string[];
  const state = mkdtempSync(join(tmpdir(), "beanrun-k8s-server-"));
  // Local stand-ins: loopback for 0.0.0.0, a free port for 11300, a temp dir for the volume; the env as the pod gets it.
  const local = args.map((a, i) =>
    args[i - 1] === "-l"
      ? "127.0.0.1"
      : args[i - 1] === "-p"
        ? "0"
        : args[i - 1] === "-b"
          ? join(state, "wal")
          : args[i - 1] === "--http"
            ? "127.0.0.1:0"
            : a,
  );
  const run = await launch([process.execPath, join(ROOT, "runtime/cli.ts"), ...local], {
    cwd: ROOT,
    env: { ...process.env, ...podEnv(c.env as Doc[]), BEANRUN_OUTBOX: state, SMTP_URL: "" },
    ready: /console and metrics on http:\/\/127\.0\.0\.1:(\d+)\//,
  });
  try {
    const url = (path: string) => `http://127.0.0.1:${run.port}${path}`;
    for (const probe of [c.livenessProbe, c.readinessProbe, { httpGet: { path: "/readyz" } }]) {
      const end = Date.now() + 15_000;
      let code = 0;
      while ((code = (await fetch(url(probe.httpGet.path), { headers: { host: `${POD.ip}:8080` } })).status) !== 200 && Date.now() < end)
        await Bun.sleep(50);
      expect(code, probe.httpGet.path).toBe(200);
    }
    const http = (c.ports as Doc[]).find((p) => p.name === "http")!.containerPort;
    for (const host of serverAllowedHosts()) {
      const r = await fetch(url("/metrics"), { headers: { host: `${host}:${http}` } });
      expect(r.status, host).toBe(200);
    }
    expect((await fetch(url("/metrics"), { headers: { host: `evil.example:${http}` } })).status).toBe(421);
  } finally {
    expect(await run.stop()).toBe(0);
    rmSync(state, { recursive: true, force: true });
  }
}, 120_000);
