import { inspect } from 'node:util';
import { z } from 'zod';

const REDACTED = '[redacted]';

/**
 * A credential that must never reach a log line, a JSON dump or an error message by accident.
 * Reading it is explicit: `secret.reveal()`.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** `{ env: NAME }`: the credential lives in the environment, the file only names it. */
export const secretRef = z.object({ env: z.string().min(1) }).strict();
export type SecretRef = z.infer<typeof secretRef>;

/**
 * Schema for a secret field: accepts a literal string or `{ env: NAME }` and yields a `Secret`.
 * References are resolved by `loadConfig` (the only reader of process.env) through the `env`
 * given in the parse context; an unset variable is reported with the field's path.
 */
export function secret() {
  return z.union([z.string().min(1), secretRef]).transform((v, ctx) => {
    if (typeof v === 'string') return new Secret(v);
    const env = currentEnv;
    const value = env?.[v.env];
    if (value === undefined || value === '') {
      ctx.addIssue({ code: 'custom', message: `environment variable ${v.env} is not set` });
      return z.NEVER;
    }
    return new Secret(value);
  });
}

// zod transforms get no user context, so loadConfig sets the environment for the duration of a
// synchronous parse. Parsing is synchronous, so nothing else can observe this between set and reset.
let currentEnv: NodeJS.ProcessEnv | undefined;
export function withSecretEnv<T>(env: NodeJS.ProcessEnv, fn: () => T): T {
  const prev = currentEnv;
  currentEnv = env;
  try {
    return fn();
  } finally {
    currentEnv = prev;
  }
}
