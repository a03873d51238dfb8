import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowlisted, pageTargets, redirectViolation } from './oracle.ts';

/** The fuzz oracle itself: what it accepts and refuses, so that a property built on it can fail. */

const ALLOWLIST = [
  'http://localhost:3000/callback',
  'https://app.example.com/cb?x=1',
  'https://*.preview.example.com/callback',
  'https://pr-*-app.example.com/cb',
  'http://localhost:*/cb',
];

describe('fuzz oracle: the allowlist rules as documented', () => {
  it('accepts each entry, alone or followed by the parameters Gatehouse adds', () => {
    for (const target of [
      'http://localhost:3000/callback',
      'http://localhost:3000/callback?code=abc&state=x',
      'https://app.example.com/cb?x=1&code=abc',
      'https://pr-42-app.example.com/cb?code=a',
      'https://feature_x.preview.example.com/callback?error=access_denied',
      'https://ABC.preview.example.com/callback',
      'http://localhost:1/cb',
      'http://localhost:65535/cb?code=a',
    ]) {
      assert.equal(allowlisted(target, ALLOWLIST), true, target);
    }
  });

  it('refuses near misses: case, trailing slash, default port, userinfo, backslash, dot segments, wrong separator', () => {
    for (const target of [
      'HTTP://localhost:3000/callback',
      'http://LOCALHOST:3000/callback',
      'http://localhost:3000/callback/',
      'http://localhost:3000/Callback',
      'http://localhost:3000/callbackx',
      'http://localhost:3000/callback&code=a',
      'http://localhost:3000/callback/../callback',
      'http://localhost:3000/callback#x',
      'http://localhost:3000@evil.example/callback',
      'https://app.example.com:443/cb?x=1',
      'https://app.example.com/cb?x=1?code=a',
      'https://app.example.com/cb?x=10',
      'https://app.example.com\\@evil.example/cb?x=1',
      'https://a.b.preview.example.com/callback',
      'https://.preview.example.com/callback',
      'https://evil.example/.preview.example.com/callback',
      'https://evil.example?.preview.example.com/callback',
      'http://x.preview.example.com/callback',
      'https://pr--app.example.com/cb',
      'http://localhost:0/cb',
      'http://localhost:65536/cb',
      'http://localhost:99999/cb',
      'http://localhost:03000/cb',
      'http://localhost:3000:3001/cb',
      'http://evil.example:3000/cb',
    ]) {
      assert.equal(allowlisted(target, ALLOWLIST), false, target);
    }
  });

  it("allows Gatehouse's own origin and the IdPs' origins, nothing else", () => {
    const rules = {
      gatehouse: 'http://127.0.0.1:9000',
      upstreamOrigins: ['http://127.0.0.1:9001'],
      allowlist: ALLOWLIST,
    };
    assert.equal(redirectViolation('/sso/consent', rules), null);
    assert.equal(redirectViolation('http://127.0.0.1:9001/auth?x=1', rules), null);
    assert.match(redirectViolation('//evil.example/x', rules) ?? '', /not on the allowlist/);
    assert.match(redirectViolation('http://127.0.0.1:9002/', rules) ?? '', /not on the allowlist/);
    assert.match(redirectViolation('http://[', rules) ?? '', /unparseable/);
  });

  it('reads form actions and meta refresh URLs from a page, entities decoded', () => {
    const html =
      '<form method="post" action="https://idp.example/sso?a=1&amp;b=2"></form>' +
      "<FORM action='/sso/consent'>" +
      '<meta http-equiv="refresh" content="0; url=https://evil.example/&#x3f;x">';
    assert.deepEqual(pageTargets(html), [
      'https://idp.example/sso?a=1&b=2',
      '/sso/consent',
      'https://evil.example/?x',
    ]);
  });
});
