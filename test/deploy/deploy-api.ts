/**
 * The deployed api as an operator reaches it: HTTP on 127.0.0.1:8080 of the gateway (curl inside
 * the lab's gateway namespace), the first admin from api.env (docker/generate-env.sh).
 */
import type { Lab } from '../../lab/index.js';

export class DeployApi {
  private token = '';
  private readonly admin: { username: string; password: string };

  constructor(private readonly lab: Lab, apiEnv: string, private readonly base = 'http://127.0.0.1:8080') {
    const value = (name: string) => {
      const found = new RegExp(`^${name}=(.*)$`, 'm').exec(apiEnv)?.[1];
      if (!found) throw new Error(`api.env has no ${name}`);
      return found;
    };
    this.admin = { username: value('PGW_ADMIN_USERNAME'), password: value('PGW_ADMIN_PASSWORD') };
  }

  async login(): Promise<void> {
    const { token } = (await this.request('POST', '/api/v1/auth/login', this.admin, false)) as { token: string };
    this.token = token;
  }

  post(path: string, body: unknown): Promise<{ id: number } & Record<string, unknown>> {
    return this.request('POST', path, body) as Promise<{ id: number } & Record<string, unknown>>;
  }

  get(path: string): Promise<unknown> {
    return this.request('GET', path);
  }

  private async request(method: string, path: string, body?: unknown, auth = true): Promise<unknown> {
    const argv = ['curl', '-sS', '--max-time', '10', '-X', method, '-w', '\n%{http_code}', '-H', 'content-type: application/json'];
    if (auth) argv.push('-H', `authorization: Bearer ${this.token}`);
    if (body !== undefined) argv.push('--data-binary', '@-');
    const result = await this.lab.exec(this.lab.ns.gateway, [...argv, `${this.base}${path}`], { input: body === undefined ? undefined : JSON.stringify(body) });
    const cut = result.stdout.lastIndexOf('\n');
    const status = Number(result.stdout.slice(cut + 1));
    const text = result.stdout.slice(0, cut);
    if (status < 200 || status > 299) throw new Error(`${method} ${path}: HTTP ${status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}
