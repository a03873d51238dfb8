import { BrokerError } from '../errors/broker-error.ts';
import { newId } from '../lib/ids.ts';
import { isWildcard, parseRedirectUri } from '../lib/redirect-uri.ts';
import { AlreadyExistsError, NotFoundError, type RedirectUriRecord } from '../storage/store.ts';
import type { ManagementDeps } from './deps.ts';
import { objectBody, Validator } from './validate.ts';

/**
 * The redirect URI allowlist (ours; WorkOS manages it in its dashboard). One entry is the default: the target
 * of IdP-initiated sign-ins. The first URI added becomes the default; a wildcard URI can never be it.
 */

export function presentRedirectUri(r: RedirectUriRecord) {
  return {
    object: 'redirect_uri' as const,
    id: r.id,
    uri: r.uri,
    default: r.isDefault,
    created_at: r.createdAt.toISOString(),
  };
}

export async function listRedirectUris(deps: ManagementDeps) {
  const all = await deps.store.listRedirectUris();
  return {
    object: 'list' as const,
    data: all.map(presentRedirectUri),
    list_metadata: { before: null, after: null },
  };
}

/**
 * Validates and adds a URI.
 * @throws BrokerError validation_failed (bad URI, wildcard as default), redirect_uri_exists
 */
export async function addRedirectUri(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const uri = typeof body.uri === 'string' ? body.uri : undefined;
  if (uri === undefined) v.fail('uri', 'is required and must be a string');
  const makeDefault = v.boolean(body, 'default');
  if (uri !== undefined) {
    const parsed = parseRedirectUri(uri);
    if (!parsed.ok) v.fail('uri', parsed.reason);
    else if (makeDefault && isWildcard(uri))
      v.fail('default', 'a wildcard URI cannot be the default redirect URI');
  }
  v.done();
  const existing = await deps.store.listRedirectUris();
  const hasDefault = existing.some((r) => r.isDefault);
  try {
    const rec = await deps.store.addRedirectUri({
      id: newId('ruri'),
      uri: uri as string,
      isDefault: makeDefault ?? (!hasDefault && !isWildcard(uri as string)),
    });
    return presentRedirectUri(rec);
  } catch (err) {
    if (err instanceof AlreadyExistsError) {
      throw new BrokerError('redirect_uri_exists', {
        message: `The redirect URI '${uri}' is already on the allowlist.`,
      });
    }
    throw err;
  }
}

export async function setDefaultRedirectUri(deps: ManagementDeps, id: string) {
  const all = await deps.store.listRedirectUris();
  const target = all.find((r) => r.id === id);
  if (!target) throw new BrokerError('not_found', { message: `Redirect URI '${id}' not found.` });
  if (isWildcard(target.uri)) {
    throw new BrokerError('validation_failed', {
      message: 'A wildcard URI cannot be the default redirect URI.',
      fields: [{ field: 'default', code: 'default a wildcard URI cannot be the default redirect URI' }],
    });
  }
  return presentRedirectUri(await deps.store.setDefaultRedirectUri(id));
}

export async function deleteRedirectUri(deps: ManagementDeps, id: string): Promise<void> {
  const all = await deps.store.listRedirectUris();
  const target = all.find((r) => r.id === id);
  if (!target) throw new BrokerError('not_found', { message: `Redirect URI '${id}' not found.` });
  if (target.isDefault && all.length > 1) throw new BrokerError('default_redirect_uri_required');
  try {
    await deps.store.deleteRedirectUri(id);
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new BrokerError('not_found', { message: `Redirect URI '${id}' not found.` });
    throw err;
  }
}
