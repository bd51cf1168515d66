/**
 * Commands beanrun adds to the beanstalkd protocol. Adding a command family
 * is a change to this file alone: declare the commands (see family.ts for
 * `Command` and the `bare`/`byId`/`byTube` openings; `op: Op.Unknown`, as
 * extensions have no beanstalkd counter) and list them in
 * `extensionCommands`; commands/index.ts already registers this list.
 *
 * Words are matched by longest prefix (ops.ts), so a new word that extends a
 * beanstalkd word ("stats-foo") takes precedence over it for lines that start
 * with it and changes nothing else. Extension commands have no `stats`
 * counter (beanstalkd's stats lists a fixed set).
 */
import type { Family } from "./family.ts";

export const extensionCommands: Family = [];
