import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigCache } from '../../src/sso/config-cache.ts';
import type { Store } from '../../src/storage/store.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

describe('ConfigCache', () => {
  let gh: TestGatehouse;
  let externalKey: string;
  let lookups = 0;
  let cache: ConfigCache;
  before(async () => {
    gh = await startGatehouse();
    const org = await gh.api('POST', '/organizations', { name: 'Acme' });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.body.id,
      connection_type: 'GenericOIDC',
      oidc_options: { issuer: 'http://127.0.0.1:1', client_id: 'c', client_secret: 's' },
    });
    externalKey = new URL(conn.body.oidc_options.redirect_uri).pathname.split('/').pop() as string;
    // The real store, counting the lookups that reach it.
    const counting = new Proxy(gh.store, {
      get(target, name, receiver) {
        if (name === 'getConnectionByExternalKey') {
          return (key: string) => {
            lookups++;
            return target.getConnectionByExternalKey(key);
          };
        }
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    cache = new ConfigCache(counting, 60_000);
  });
  after(() => gh.close());

  it('a connection found by its callback key is kept; made-up keys from requests are not (they would push it out)', async () => {
    assert.equal((await cache.getConnectionByExternalKey(externalKey))?.connectionType, 'GenericOIDC');
    assert.equal((await cache.getConnectionByExternalKey(externalKey))?.connectionType, 'GenericOIDC');
    assert.equal(lookups, 1);
    for (let i = 0; i < 3; i++) assert.equal(await cache.getConnectionByExternalKey('made-up-key'), null);
    assert.equal(lookups, 4, 'each made-up key goes to the store: nothing of it is kept');
  });
});
