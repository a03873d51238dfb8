/**
 * A lean HTTP client for the benchmarks' load drivers: undici's `request` over one shared keep-alive pool per
 * origin (cheaper per request than `fetch`, so the driver takes less of the CPU it shares with the servers),
 * and a browser on top of it: a cookie jar (RFC 6265: cookies belong to a host, not a port, and are sent by
 * path), manual redirects, and the steps of oidc-provider's development login and consent forms. Same
 * behaviour as test/helpers/browser.ts, which the tests use through `fetch`.
 */
import { Agent, request } from 'undici';
import { StepFailure } from './lib.ts';

/** Every request of this process goes through these pools: 10 s to connect, for the headers, for the body. */
const agent = new Agent({
  keepAliveTimeout: 60_000,
  connectTimeout: 10_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});

export interface Answer {
  status: number;
  /** The Location header, if any. */
  location: string | null;
  setCookie: string[];
  contentType: string;
  text: string;
}

/**
 * One request, without cookies or redirects; its body read to the end. `step` names it in failures: a network
 * error or a timeout becomes a `StepFailure` with no status.
 */
export async function send(
  step: string,
  url: URL | string,
  init: { method?: 'GET' | 'POST' | 'PUT' | 'DELETE'; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: init.method ?? 'GET',
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const text = await res.body.text();
    const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const cookies = res.headers['set-cookie'];
    return {
      status: res.statusCode,
      location: one(res.headers.location) ?? null,
      setCookie: cookies === undefined ? [] : Array.isArray(cookies) ? cookies : [cookies],
      contentType: one(res.headers['content-type']) ?? '',
      text,
    };
  } catch (err) {
    throw new StepFailure(step, null, (err as Error)?.message ?? String(err));
  }
}

/** Throws a StepFailure unless the answer has `status`. */
export function expectStatus(step: string, answer: Answer, status: number): void {
  if (answer.status !== status) {
    throw new StepFailure(
      step,
      answer.status,
      `expected ${status}; Location ${JSON.stringify(answer.location)}; ` +
        `body ${JSON.stringify(answer.text.slice(0, 300))}`,
    );
  }
}

interface Cookie {
  value: string;
  path: string;
}

/** One user's browser: its own cookies, the process's shared connections. */
export class BenchBrowser {
  /** host → name → cookie */
  readonly #jar = new Map<string, Map<string, Cookie>>();

  #cookieHeader(url: URL): string {
    const cookies = this.#jar.get(url.hostname);
    if (!cookies) return '';
    let header = '';
    for (const [name, c] of cookies) {
      if (url.pathname.startsWith(c.path)) header += `${header ? '; ' : ''}${name}=${c.value}`;
    }
    return header;
  }

  #store(url: URL, lines: string[]): void {
    for (const line of lines) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v;
        else if (key === 'max-age' && Number(v) <= 0) expired = true;
        else if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      let cookies = this.#jar.get(url.hostname);
      if (!cookies) {
        cookies = new Map();
        this.#jar.set(url.hostname, cookies);
      }
      if (expired) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
  }

  /** One request with this browser's cookies (sent and stored), no redirect following. */
  async request(
    step: string,
    url: URL,
    init: { form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...init.headers };
    const cookie = this.#cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const answer = await send(step, url, {
      method: init.form ? 'POST' : 'GET',
      headers,
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    this.#store(url, answer.setCookie);
    return answer;
  }

  /**
   * Signs in at oidc-provider's development pages, from its authorization URL: follows its redirects, submits
   * the login form (`login`, any password) and then its consent form, and returns the URL of the first
   * redirect that leaves for `stopAt` (the redirect URI registered at the IdP). Anything else is a
   * StepFailure: exactly two forms, nothing but redirects and those two pages in between.
   */
  async signInAtIdp(authorizationUrl: URL, login: string, stopAt: string): Promise<URL> {
    const idpOrigin = authorizationUrl.origin;
    let url = authorizationUrl;
    let forms = 0;
    for (let i = 0; i < 12; i++) {
      const answer = await this.request('idp', url);
      if ((answer.status === 302 || answer.status === 303) && answer.location) {
        const next = new URL(answer.location, url);
        if (next.href.startsWith(stopAt)) return next;
        if (next.origin !== idpOrigin)
          throw new StepFailure('idp', answer.status, `redirect to ${next.href}`);
        url = next;
        continue;
      }
      if (answer.status !== 200) throw new StepFailure('idp', answer.status, answer.text.slice(0, 300));
      const action = /<form[^>]*action="([^"]+)"/.exec(answer.text)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(answer.text)?.[1];
      const expected = forms === 0 ? 'login' : 'consent';
      if (!action || prompt !== expected) {
        throw new StepFailure(
          `idp ${expected} form`,
          200,
          `expected the ${expected} form: ${answer.text.slice(0, 300)}`,
        );
      }
      forms++;
      const form: Record<string, string> =
        prompt === 'login' ? { prompt, login, password: 'bench-password' } : { prompt };
      const posted = await this.request(`idp ${prompt} form`, new URL(action, url), { form });
      if ((posted.status !== 302 && posted.status !== 303) || !posted.location) {
        throw new StepFailure(`idp ${prompt} form`, posted.status, posted.text.slice(0, 300));
      }
      url = new URL(posted.location, url);
      if (url.href.startsWith(stopAt)) return url;
    }
    throw new StepFailure('idp', null, 'the IdP kept asking (more than 12 steps)');
  }
}
