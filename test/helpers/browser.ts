/**
 * A small browser for end-to-end tests: a cookie jar (RFC 6265: cookies belong to a host, not a port, and are
 * sent by path), manual redirects, and helpers that fill in oidc-provider's development login and consent
 * forms. It talks real HTTP to real servers; only the rendering engine is missing (headless Chromium covers the
 * pages themselves in test/e2e/consent-browser.test.ts).
 */

interface Cookie {
  value: string;
  path: string;
}

export class TestBrowser {
  /** host → name → cookie */
  readonly jar = new Map<string, Map<string, Cookie>>();

  cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.hostname);
    if (!cookies) return '';
    return [...cookies.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  /** The value of a cookie for a host, if set. */
  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name)?.value;
  }

  #store(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      let cookies = this.jar.get(url.hostname);
      if (!cookies) {
        cookies = new Map();
        this.jar.set(url.hostname, cookies);
      }
      if (expired) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
  }

  /** One request, no redirect following; cookies sent and stored. */
  async request(
    url: string | URL,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = { ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      redirect: 'manual',
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    this.#store(target, res);
    return res;
  }

  /**
   * Follows redirects from `url` until a response that is not a redirect, or a redirect whose Location starts
   * with `stopAt` (the app's redirect URI: the app is not running in these tests). Returns that response and
   * the URL it answered.
   */
  async follow(url: string | URL, stopAt?: string): Promise<{ res: Response; url: URL }> {
    let current = new URL(url);
    for (let i = 0; i < 20; i++) {
      const res = await this.request(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current };
      const next = new URL(location, current);
      if (stopAt && next.href.startsWith(stopAt)) return { res, url: current };
      await res.arrayBuffer();
      current = next;
    }
    throw new Error('too many redirects');
  }

  /**
   * Signs in at an oidc-provider development login page reached from `url` (Gatehouse's authorize URL or the IdP's
   * authorization URL): submits the login form with `login`, approves the IdP's own consent, and stops at the
   * first response from outside the IdP's interaction pages (Gatehouse's callback answer: its consent screen, an
   * error page, or a redirect to `stopAt`).
   */
  async signInAtIdp(
    url: string | URL,
    login: string,
    idpOrigin: string,
    stopAt: string,
  ): Promise<{ res: Response; url: URL }> {
    let step = await this.follow(url, stopAt);
    for (let i = 0; i < 5; i++) {
      if (step.url.origin !== idpOrigin || step.res.status !== 200) return step;
      const html = await step.res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`no form on the IdP page ${step.url}:\n${html.slice(0, 500)}`);
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      const form: Record<string, string> = { prompt: prompt ?? 'login' };
      if (prompt === 'login') Object.assign(form, { login, password: 'any-password' });
      const posted = await this.request(new URL(action, step.url), { form });
      const location = posted.headers.get('location');
      if (!location) throw new Error(`the IdP form post did not redirect (${posted.status})`);
      step = await this.follow(new URL(location, step.url), stopAt);
    }
    throw new Error('the IdP kept asking');
  }
}

/** The hidden consent token and form action of Gatehouse's consent screen. */
export function consentForm(html: string): { token: string } {
  const token = /name="consent_token" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error(`not a consent page:\n${html.slice(0, 300)}`);
  return { token };
}
