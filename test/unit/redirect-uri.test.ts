import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isWildcard,
  matchRedirectUri,
  parseRedirectUri,
  type RedirectUriRule,
} from '../../src/lib/redirect-uri.ts';

/** Parses `uri` and fails the test if it is refused. */
function rule(uri: string): RedirectUriRule {
  const parsed = parseRedirectUri(uri);
  assert.ok(
    parsed.ok,
    `expected ${JSON.stringify(uri)} to be accepted, got: ${parsed.ok ? '' : parsed.reason}`,
  );
  return parsed.rule;
}

function accepts(uri: string): void {
  const r = rule(uri);
  assert.equal(r.uri, uri, 'the rule keeps the URI exactly as registered');
}

function rejects(uri: string, reason?: RegExp): void {
  const parsed = parseRedirectUri(uri);
  assert.equal(parsed.ok, false, `expected ${JSON.stringify(uri)} to be refused`);
  if (!parsed.ok && reason) assert.match(parsed.reason, reason);
}

/** Whether `candidate` matches an allowlist holding only `registered`. */
function matches(registered: string, candidate: string): boolean {
  return matchRedirectUri(candidate, [rule(registered)]) !== null;
}

describe('parseRedirectUri: what may be registered', () => {
  it('accepts https URIs with a path, without a path, with a port and with a query', () => {
    accepts('https://app.example.com/callback');
    accepts('https://app.example.com');
    accepts('https://app.example.com:8443/auth/callback');
    accepts('https://app.example.com/cb?tenant=1');
    accepts('https://app.example.com/cb?tenant=1&region=eu');
    accepts('https://app.example.com?tenant=1');
    accepts('https://xn--bcher-kva.example/callback');
  });

  it('accepts http only on loopback hosts (RFC 8252 §7.3)', () => {
    accepts('http://localhost/callback');
    accepts('http://localhost:3000/callback');
    accepts('http://127.0.0.1:8080/callback');
    accepts('http://[::1]:8080/callback');
  });

  it('refuses http on a non-loopback host (RFC 9700 §2.6)', () => {
    rejects('http://app.example.com/callback', /plain http/);
  });

  it('refuses http on a host that only starts with "localhost" (localhost.evil.com)', () => {
    rejects('http://localhost.evil.com/callback', /plain http/);
    rejects('http://127.0.0.1.evil.com/callback');
  });

  it('accepts a wildcard in the left-most label, alone or with a prefix and suffix', () => {
    accepts('https://*.preview.example.com/callback');
    accepts('https://pr-*-app.example.com/callback');
    accepts('https://*.example.com:8443/callback');
    assert.equal(isWildcard('https://*.preview.example.com/callback'), true);
    assert.equal(isWildcard('https://app.example.com/callback'), false);
  });

  it('accepts a port wildcard on loopback hosts', () => {
    accepts('http://localhost:*/callback');
    accepts('http://127.0.0.1:*/callback');
    accepts('http://[::1]:*/callback');
  });

  it('refuses an empty URI and an over-long URI', () => {
    rejects('', /empty/);
    rejects(`https://app.example.com/${'a'.repeat(2048)}`, /at most/);
  });

  it('refuses a fragment (RFC 6749 §3.1.2)', () => {
    rejects('https://app.example.com/callback#frag', /fragment/);
    rejects('https://app.example.com/callback#', /fragment/);
  });

  it('refuses userinfo that hides the real host (app.example.com@evil.com)', () => {
    rejects('https://app.example.com@evil.com/callback');
    rejects('https://user:pass@app.example.com/callback');
    rejects('https://evil.com@app.example.com/callback');
  });

  it('refuses backslashes that browsers read as slashes (evil.com\\@app.example.com)', () => {
    rejects('https://evil.com\\@app.example.com/callback', /backslash/);
    rejects('https://app.example.com\\callback', /backslash/);
  });

  it('refuses whitespace and control characters (header and log injection)', () => {
    rejects('https://app.example.com/call back', /whitespace/);
    rejects('https://app.example.com/callback\r\nSet-Cookie: x=1', /whitespace/);
    rejects('https://app.example.com/callback\t', /whitespace/);
    rejects(' https://app.example.com/callback', /whitespace/);
    rejects('https://app.example.com/callback\u0000', /control/);
    rejects('https://app.example.com/callback\u007f', /control/);
  });

  it('refuses non-ASCII characters, which cannot go into a Location header (IRIs must be percent-encoded)', () => {
    rejects('https://app.example.com/路径');
    rejects('https://app.example.com/café');
    rejects('https://app.example.com/cb?name=é');
    rejects('https://*.preview.example.com/callbäck');
    rejects('https://app.example.com/callback\u2028');
    accepts('https://app.example.com/caf%C3%A9');
  });

  it('refuses an upper-case host (matching never case-folds)', () => {
    rejects('https://App.example.com/callback', /lower-case/);
    rejects('https://APP.EXAMPLE.COM/callback', /lower-case/);
  });

  it('refuses an upper-case or mixed-case scheme', () => {
    rejects('HTTPS://app.example.com/callback');
    rejects('Https://app.example.com/callback');
  });

  it('refuses a trailing-dot host (app.example.com.)', () => {
    rejects('https://app.example.com./callback', /dot/);
  });

  it('refuses a percent-encoded host (app%2eexample.com)', () => {
    rejects('https://app%2eexample.com/callback', /percent/);
  });

  it('refuses hosts that are not DNS names or IP literals', () => {
    rejects('https://app..example.com/callback');
    rejects('https://-app.example.com/callback');
    rejects('https://app_1.example.com/callback');
    rejects('https://[::1/callback');
  });

  it('refuses "." and ".." path segments (path traversal after normalisation)', () => {
    rejects('https://app.example.com/callback/../evil', /segments/);
    rejects('https://app.example.com/./callback', /segments/);
    rejects('https://app.example.com/callback/..', /segments/);
    rejects('https://app.example.com/callback/.', /segments/);
    accepts('https://app.example.com/callback/..well-known');
  });

  it('refuses bad port numbers', () => {
    rejects('https://app.example.com:0/callback', /port/);
    rejects('https://app.example.com:65536/callback', /port/);
    rejects('https://app.example.com:0443/callback', /port/);
    rejects('https://app.example.com:/callback');
    rejects('https://app.example.com:443443/callback');
  });

  it('refuses a wildcard outside the left-most label (sub.*.example.com)', () => {
    rejects('https://sub.*.example.com/callback', /left-most/);
    rejects('https://app.example.*/callback');
  });

  it('refuses two wildcards', () => {
    rejects('https://*-*.example.com/callback', /at most one/);
    rejects('https://**.example.com/callback', /at most one/);
    rejects('https://*.*.example.com/callback');
  });

  it('refuses a wildcard on http, even on loopback names', () => {
    rejects('http://*.example.com/callback');
    rejects('http://*.localhost/callback');
  });

  it('refuses a wildcard directly under a public suffix (*.com, *.co.uk, *.ngrok-free.app, *.github.io)', () => {
    rejects('https://*.com/callback');
    rejects('https://*.co.uk/callback', /public suffix/);
    rejects('https://*.ngrok-free.app/callback', /public suffix/);
    rejects('https://*.github.io/callback', /public suffix/);
    rejects('https://*/callback');
    // One level below the suffix is a registrable domain, so its subdomains are fine.
    accepts('https://*.example.co.uk/callback');
    accepts('https://*.myapp.github.io/callback');
  });

  it('refuses a wildcard over numeric labels, which would match IPv4 addresses (*.0.0.1 → 127.0.0.1)', () => {
    rejects('https://*.0.0.1/callback');
    rejects('https://*.1.2.3/callback');
    rejects('https://*.example.123/callback');
  });

  it('refuses a wildcard in the path or the query', () => {
    rejects('https://app.example.com/*/callback', /host or port/);
    rejects('https://app.example.com/callback*', /host or port/);
    rejects('https://app.example.com/callback?tenant=*', /host or port/);
  });

  it('refuses a port wildcard on a non-loopback host', () => {
    rejects('https://app.example.com:*/callback', /loopback/);
    rejects('https://*.preview.example.com:*/callback', /loopback/);
  });

  it('refuses non-http(s) schemes (javascript:, data:, custom app schemes, scheme-relative)', () => {
    rejects('javascript:alert(1)');
    rejects('javascript://app.example.com/%0aalert(1)');
    rejects('data:text/html,<script>alert(1)</script>');
    rejects('ftp://app.example.com/callback');
    rejects('com.example.app://callback');
    rejects('//app.example.com/callback');
    rejects('/callback');
    rejects('app.example.com/callback');
    rejects('https:/app.example.com/callback');
    rejects('https:///app.example.com/callback');
  });
});

describe('matchRedirectUri: exact string comparison', () => {
  it('matches the identical string and returns the registered rule', () => {
    const a = rule('https://app.example.com/callback');
    const b = rule('https://app.example.com/cb?tenant=1');
    assert.equal(matchRedirectUri('https://app.example.com/cb?tenant=1', [a, b]), b);
    assert.equal(matchRedirectUri('https://app.example.com/callback', [a, b]), a);
    assert.equal(matchRedirectUri('https://app.example.com/callback', []), null);
  });

  it('does not case-fold the host, the scheme or the path', () => {
    assert.equal(matches('https://app.example.com/callback', 'https://APP.example.com/callback'), false);
    assert.equal(matches('https://app.example.com/callback', 'HTTPS://app.example.com/callback'), false);
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com/Callback'), false);
  });

  it('does not percent-decode (%2e, %2F, %63allback)', () => {
    const registered = 'https://app.example.com/callback';
    assert.equal(matches(registered, 'https://app.example.com/%63allback'), false);
    assert.equal(matches(registered, 'https://app%2eexample.com/callback'), false);
    assert.equal(matches(registered, 'https://app.example.com%2Fcallback'), false);
    assert.equal(matches('https://app.example.com/caf%C3%A9', 'https://app.example.com/caf%c3%a9'), false);
  });

  it('does not treat a trailing slash as equivalent', () => {
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com/callback/'), false);
    assert.equal(matches('https://app.example.com', 'https://app.example.com/'), false);
    assert.equal(matches('https://app.example.com/', 'https://app.example.com'), false);
  });

  it('does not treat the default port as equivalent', () => {
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com:443/callback'), false);
    assert.equal(matches('https://app.example.com:443/callback', 'https://app.example.com/callback'), false);
    assert.equal(matches('http://localhost/callback', 'http://localhost:80/callback'), false);
  });

  it('refuses an extra path segment, a path prefix and path traversal', () => {
    const registered = 'https://app.example.com/callback';
    assert.equal(matches(registered, 'https://app.example.com/callback/extra'), false);
    assert.equal(matches(registered, 'https://app.example.com/callbackx'), false);
    assert.equal(matches(registered, 'https://app.example.com/callback/../evil'), false);
    assert.equal(matches(registered, 'https://app.example.com/evil/../callback'), false);
  });

  it('refuses an extra or changed query, and a query on a URI registered without one (open redirect via ?next=)', () => {
    assert.equal(
      matches('https://app.example.com/callback', 'https://app.example.com/callback?next=https://evil.com'),
      false,
    );
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com/callback?'), false);
    assert.equal(
      matches('https://app.example.com/cb?tenant=1', 'https://app.example.com/cb?tenant=2'),
      false,
    );
    assert.equal(
      matches('https://app.example.com/cb?tenant=1', 'https://app.example.com/cb?tenant=1&tenant=2'),
      false,
    );
    assert.equal(matches('https://app.example.com/cb?tenant=1', 'https://app.example.com/cb'), false);
  });

  it('refuses a fragment appended to a registered URI', () => {
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com/callback#x'), false);
  });

  it('refuses userinfo and backslash tricks around the registered host', () => {
    const registered = 'https://app.example.com/callback';
    assert.equal(matches(registered, 'https://app.example.com@evil.com/callback'), false);
    assert.equal(matches(registered, 'https://evil.com@app.example.com/callback'), false);
    assert.equal(matches(registered, 'https://evil.com\\@app.example.com/callback'), false);
  });

  it('refuses http in place of https and a trailing-dot host', () => {
    assert.equal(matches('https://app.example.com/callback', 'http://app.example.com/callback'), false);
    assert.equal(matches('https://app.example.com/callback', 'https://app.example.com./callback'), false);
  });

  it('refuses a candidate that only contains the registered URI (prefix, suffix, newline)', () => {
    const registered = 'https://app.example.com/callback';
    assert.equal(matches(registered, `${registered}\n`), false);
    assert.equal(matches(registered, `\n${registered}`), false);
    assert.equal(matches(registered, `https://evil.com/?${registered}`), false);
    assert.equal(matches(registered, `${'x'.repeat(3000)}`), false);
  });
});

describe('matchRedirectUri: host wildcard', () => {
  const registered = 'https://*.preview.example.com/callback';

  it('matches exactly one label of letters, digits, "_" and "-"', () => {
    assert.equal(matches(registered, 'https://pr-123.preview.example.com/callback'), true);
    assert.equal(matches(registered, 'https://feature_x.preview.example.com/callback'), true);
    assert.equal(matches(registered, 'https://Feature-X.preview.example.com/callback'), true);
    assert.equal(matches(registered, 'https://a.preview.example.com/callback'), true);
  });

  it('never matches a dot: a second label in front (a.b.preview.example.com)', () => {
    assert.equal(matches(registered, 'https://a.b.preview.example.com/callback'), false);
  });

  it('never matches an empty label (.preview.example.com) or the parent itself', () => {
    assert.equal(matches(registered, 'https://.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://preview.example.com/callback'), false);
  });

  it('refuses the parent domain smuggled into the path (evil.com/.preview.example.com)', () => {
    assert.equal(matches(registered, 'https://evil.com/.preview.example.com/callback'), false);
  });

  it('refuses the parent domain smuggled into the query (evil.com?.preview.example.com)', () => {
    assert.equal(matches(registered, 'https://evil.com?.preview.example.com/callback'), false);
  });

  it('refuses the parent domain as a prefix of an attacker domain (x.preview.example.com.evil.com)', () => {
    assert.equal(matches(registered, 'https://x.preview.example.com.evil.com/callback'), false);
  });

  it('refuses userinfo in the wildcard label (evil.com@x.preview.example.com)', () => {
    assert.equal(matches(registered, 'https://evil.com@x.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://x:y@x.preview.example.com/callback'), false);
  });

  it('refuses regex metacharacters in the parent (a dot is not "any character")', () => {
    assert.equal(matches(registered, 'https://x.previewXexample.com/callback'), false);
    assert.equal(matches(registered, 'https://x.preview.exampleXcom/callback'), false);
  });

  it('refuses characters outside [A-Za-z0-9_-] in the label (percent, slash, backslash, colon)', () => {
    assert.equal(matches(registered, 'https://x%2e.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://evil.com%2F.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://evil.com\\.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://x:1.preview.example.com/callback'), false);
  });

  it('still matches the rest of the URI exactly (scheme, port, path, query)', () => {
    assert.equal(matches(registered, 'http://x.preview.example.com/callback'), false);
    assert.equal(matches(registered, 'https://x.preview.example.com:443/callback'), false);
    assert.equal(matches(registered, 'https://x.preview.example.com/callback/'), false);
    assert.equal(matches(registered, 'https://x.preview.example.com/callback?x=1'), false);
    assert.equal(matches(registered, 'https://x.preview.example.com/callback#x'), false);
    assert.equal(matches(registered, 'https://x.preview.example.com/callbackx'), false);
  });

  it('applies a prefix and suffix around the wildcard, and never lets the wildcard be empty', () => {
    const affixed = 'https://pr-*-app.example.com/callback';
    assert.equal(matches(affixed, 'https://pr-42-app.example.com/callback'), true);
    assert.equal(matches(affixed, 'https://pr--app.example.com/callback'), false);
    assert.equal(matches(affixed, 'https://pr-42.example.com/callback'), false);
    assert.equal(matches(affixed, 'https://xpr-42-app.example.com/callback'), false);
    assert.equal(matches(affixed, 'https://pr-4.2-app.example.com/callback'), false);
  });

  it('treats a regex metacharacter in the registered path or query literally', () => {
    const withQuery = 'https://*.preview.example.com/cb?a=1+2&b=(x)';
    assert.equal(matches(withQuery, 'https://x.preview.example.com/cb?a=1+2&b=(x)'), true);
    assert.equal(matches(withQuery, 'https://x.preview.example.com/cb?a=11112&b=(x)'), false);
    assert.equal(matches(withQuery, 'https://x.preview.example.com/cb?a=1+2&b=x'), false);
  });
});

describe('matchRedirectUri: port wildcard', () => {
  const registered = 'http://localhost:*/callback';

  it('matches a port number', () => {
    assert.equal(matches(registered, 'http://localhost:3000/callback'), true);
    assert.equal(matches(registered, 'http://localhost:1/callback'), true);
    assert.equal(matches(registered, 'http://localhost:65535/callback'), true);
    assert.equal(matches('http://[::1]:*/callback', 'http://[::1]:8080/callback'), true);
  });

  it('refuses a non-numeric port (localhost:abc)', () => {
    assert.equal(matches(registered, 'http://localhost:abc/callback'), false);
    assert.equal(matches(registered, 'http://localhost:80a/callback'), false);
  });

  it('refuses an empty port and a missing port', () => {
    assert.equal(matches(registered, 'http://localhost:/callback'), false);
    assert.equal(matches(registered, 'http://localhost/callback'), false);
  });

  it('refuses a port above 65535 (localhost:65536, localhost:99999: found by the fuzz suite)', () => {
    assert.equal(matches(registered, 'http://localhost:65536/callback'), false);
    assert.equal(matches(registered, 'http://localhost:70000/callback'), false);
    assert.equal(matches(registered, 'http://localhost:99999/callback'), false);
    assert.equal(matches(registered, 'http://localhost:65530/callback'), true);
    assert.equal(matches(registered, 'http://localhost:9999/callback'), true);
  });

  it('refuses port zero and zero-padded ports', () => {
    assert.equal(matches(registered, 'http://localhost:0/callback'), false);
    assert.equal(matches(registered, 'http://localhost:03000/callback'), false);
  });

  it('refuses a port followed by userinfo that moves the host (localhost:80@evil.com)', () => {
    assert.equal(matches(registered, 'http://localhost:80@evil.com/callback'), false);
  });

  it('refuses another host or scheme on the wildcard port', () => {
    assert.equal(matches(registered, 'http://evil.com:3000/callback'), false);
    assert.equal(matches(registered, 'http://127.0.0.1:3000/callback'), false);
    assert.equal(matches(registered, 'https://localhost:3000/callback'), false);
    assert.equal(matches(registered, 'http://localhost.evil.com:3000/callback'), false);
  });

  it('still matches the path exactly', () => {
    assert.equal(matches(registered, 'http://localhost:3000/callback/extra'), false);
    assert.equal(matches(registered, 'http://localhost:3000/callback?x=1'), false);
    assert.equal(matches(registered, 'http://localhost:3000/Callback'), false);
  });
});
