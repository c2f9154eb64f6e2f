import { z } from 'zod';

/** A configuration problem an operator must fix; its message is one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates environment variables against a schema keyed by variable name. The first problem
 * becomes a ConfigError such as `PGW_DATABASE_URL: required` so a service can refuse to start
 * with one clear line.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    picked[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || 'environment';
    const message = issue.code === 'invalid_type' && picked[name] === undefined ? 'required but not set' : issue.message;
    return `${name}: ${message}`;
  });
  throw new ConfigError(problems.join('; '));
}

/**
 * Takes variables holding credentials out of the environment once a service has loaded them: a
 * child process inherits the environment (execa's and spawn's default), and none of the tools a
 * service runs (nft, tc, ip) needs its database or Redis password.
 */
export function withdrawFromEnvironment(names: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  for (const name of names) delete env[name];
}
