export { mintToken, verifyToken, isExpired, ROLES, MIN_SECRET_BYTES, MAX_TOKEN_CHARS } from './token.js';
export type { Role, TokenClaims, VerifyResult } from './token.js';
export { loadSecret, readSecretFile, secretFromEnv, generateSecret, ensureSecretFile, DEFAULT_SECRET_FILE } from './secret.js';
