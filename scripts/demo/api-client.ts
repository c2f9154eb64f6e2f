/** Just enough of an API client for the demo: bearer token, JSON, errors that say what the api said. */
export class ApiClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  static async login(baseUrl: string, username: string, password: string): Promise<ApiClient> {
    const response = await fetch(`${baseUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    const body = (await response.json()) as { token?: string; error?: { message: string } };
    if (!response.ok || !body.token) throw new Error(`login as ${username} failed: ${body.error?.message ?? response.status}`);
    return new ApiClient(baseUrl, body.token);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${(parsed as { error?: { message?: string } })?.error?.message ?? text}`);
    return parsed as T;
  }
}
