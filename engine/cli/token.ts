/**
 * npm run token -- --client <id> [--ttl-sec N] [--role trader] [--secret-file path] [--config path]
 *
 * Prints a signed token for a configured client on stdout (nothing else, so `$(npm run -s token …)`
 * works); a one-line summary goes to stderr. Secret: --secret-file, else $QE_AUTH_SECRET (the
 * name comes from config.auth.secretEnv), else .data/auth.secret as written by the demo.
 */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_SECRET_FILE, loadSecret } from '../auth/secret.js';
import { ROLES, mintToken, type Role } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig } from '../config.js';
import { EngineError } from '../errors.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function role(v: string): Role {
  if (!(ROLES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${ROLES.join(', ')}`);
  return v as Role;
}

const program = new Command()
  .name('token')
  .description('Mint a signed access token for a WebSocket client')
  .requiredOption('--client <id>', 'client id (config.clients[].id)')
  .option('--ttl-sec <n>', 'lifetime in seconds (default: config.auth.tokenTtlSec)', positiveInt)
  .option('--role <role>', `${ROLES.join(' | ')} (default: the client's configured role)`, role)
  .option('--secret-file <path>', 'read the HMAC secret from this file')
  .option('--config <path>', 'engine config file (default: the shipped default config)')
  .showHelpAfterError();

try {
  program.parse();
  const o = program.opts<{ client: string; ttlSec?: number; role?: Role; secretFile?: string; config?: string }>();
  const config = o.config === undefined ? loadDefaultConfig() : loadConfigFile(o.config);
  const client = config.clients.find((c) => c.id === o.client);
  if (client === undefined) {
    process.stderr.write(`token: unknown client "${o.client}"; configured: ${config.clients.map((c) => c.id).join(', ')}\n`);
    process.exit(2);
  }
  const secret = loadSecret({ envName: config.auth.secretEnv, file: o.secretFile, fallbackFile: DEFAULT_SECRET_FILE });
  const ttlSec = o.ttlSec ?? config.auth.tokenTtlSec;
  const nowSec = Date.now() / 1000;
  const token = mintToken(secret, { sub: client.id, role: o.role ?? client.role }, ttlSec, nowSec);
  process.stdout.write(token + '\n');
  const exp = new Date((Math.floor(nowSec) + ttlSec) * 1000).toISOString();
  process.stderr.write(`token: ${client.id} (tier ${client.tier}, role ${o.role ?? client.role}) expires ${exp}\n`);
} catch (e) {
  const msg = e instanceof EngineError ? `${e.code}: ${e.message}` : (e as Error).message;
  process.stderr.write(`token: ${msg}\n`);
  process.exit(2);
}
