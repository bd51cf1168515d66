/**
 * `beanrun migrate --store postgres://...`: brings a database to the schema
 * this binary serves, as a step of its own (a deploy's pre-start job), under
 * the same advisory lock that `serve --store` takes on start, so running it
 * while front ends start is safe. `--check` only reports the versions and
 * exits 1 when the database is behind (3 when it is ahead of this binary).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { describeUrl } from "../store/postgres/front.ts";
import { migrate, SCHEMA_VERSION, SchemaTooNewError, schemaVersion } from "../store/postgres/migrations.ts";

const USAGE = `Use: beanrun migrate --store postgres://USER@HOST:PORT/DB [--check]

Applies the missing schema migrations of the PostgreSQL store (serve --store
does this on start as well). The URL may also come from $BEANRUN_STORE.
 --check   report the database's and this binary's schema versions, change nothing`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { store: { type: "string" }, check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    console.error(`beanrun migrate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const url = values.store ?? process.env.BEANRUN_STORE;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    console.error(`beanrun migrate: --store postgres://... is required\n\n${USAGE}`);
    return 2;
  }
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    if (values.check) {
      const v = await schemaVersion(sql);
      console.log(`database schema ${v}, this beanrun ${SCHEMA_VERSION}`);
      return v === SCHEMA_VERSION ? 0 : v > SCHEMA_VERSION ? 3 : 1;
    }
    const r = await migrate(sql);
    console.log(
      r.applied.length
        ? `migrated ${describeUrl(url)} from schema ${r.from} to ${r.to}`
        : `${describeUrl(url)} is at schema ${r.to}: nothing to do`,
    );
    return 0;
  } catch (e) {
    if (e instanceof SchemaTooNewError) console.error(`beanrun migrate: ${e.message}`);
    else console.error(`beanrun migrate: cannot migrate PostgreSQL at ${describeUrl(url)}: ${(e as Error).message}`);
    return 1;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
