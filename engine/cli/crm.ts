/**
 * npm run crm -- <command> [--nats <url>]
 *
 *   list                                   clients, effective tiers, limits, scores
 *   show <id>                              one client in full
 *   set <id> [--tier N] [--credit-limit X] [--max-order X] [--name S] [--instrument-max IID=X]… [--clear-instrument-max IID]…
 *                                          change fields (a new id needs --name, --tier, --credit-limit, --max-order)
 *   override <id> --tier N --reason S --author S (--expires-in 7d | --expires-at ISO)
 *   clear-override <id> --author S
 *   import <file.json> [--author S]        a book file: [records] or { clients, axes? }; all or nothing
 *   axes [--set file.json]                 show the desk's axes, or replace them
 *   scores                                 relationship scores
 *   seed                                   write engine/default-crm.json into an empty bucket
 *
 * Talks to the CRM KV bucket directly (the engine need not run; a running engine sees each change
 * at once through its watch). Every change is validated before it is written. Exit 0 on success,
 * 2 on bad input (a coded message on stderr: QE_CRM_INVALID, QE_CRM_UNKNOWN_CLIENT, …), 1 when the
 * broker or bucket is unavailable.
 */
import { runCrmCli } from '../crm/cli.js';

process.exitCode = await runCrmCli(process.argv.slice(2), {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
});
