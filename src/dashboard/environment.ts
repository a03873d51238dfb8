import { isBrokerError } from '../errors/broker-error.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../management/api-keys.ts';
import {
  addRedirectUri,
  deleteRedirectUri,
  listRedirectUris,
  setDefaultRedirectUri,
} from '../management/redirect-uris.ts';
import {
  audit,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  page,
} from './dashboard.ts';

/**
 * The Environment page (`/dashboard/environment`): the client ID, the redirect URI allowlist and the API keys,
 * read and changed through the management API's own functions (the same validation, the same refusals: the last
 * API key, the default redirect URI while others exist). A new API key is shown once, on the answer to its form;
 * afterwards only its last four characters. Every change is in the audit log.
 */

type Form = Record<string, string | undefined>;

/** A refusal the management function made (4xx): what to tell the operator. Anything else is rethrown. */
export function refusal(err: unknown): { status: number; message: string } {
  if (isBrokerError(err) && err.entry.status >= 400 && err.entry.status < 500) {
    const message = err.fields?.length ? err.fields.map((f) => f.code).join('; ') : err.message;
    return { status: err.entry.status === 404 ? 404 : err.entry.status === 409 ? 409 : 422, message };
  }
  throw err;
}

function day(iso: string): string {
  return iso.replace('T', ' ').slice(0, 16);
}

/** `GET /dashboard/environment`. `notice`: the outcome of the form just posted (an error, or a new key shown once). */
export async function environment(
  deps: DashboardDeps,
  ctx: DashboardContext,
  notice: {
    status?: number;
    error?: { section: 'redirect_uris' | 'api_keys'; message: string };
    newKey?: { name: string; value: string };
    form?: Form;
  } = {},
): Promise<DashboardResult> {
  const [uris, keys, clientId] = await Promise.all([
    listRedirectUris(deps.management),
    listApiKeys(deps.management),
    deps.store.getSetting('client_id'),
  ]);
  const active = keys.data.filter((k) => !k.revoked_at);
  return page(
    deps,
    'environment',
    {
      title: 'Environment',
      clientId: clientId ?? '',
      uris: uris.data.map((u) => ({
        id: u.id,
        uri: u.uri,
        isDefault: u.default,
        created: day(u.created_at),
      })),
      keys: keys.data.map((k) => ({
        id: k.id,
        name: k.name,
        lastFour: k.obfuscated_value,
        created: day(k.created_at),
        revoked: k.revoked_at ? day(k.revoked_at) : null,
        last: !k.revoked_at && active.length === 1,
      })),
      error: notice.error ?? null,
      newKey: notice.newKey ?? null,
      form: notice.form ?? {},
    },
    { context: ctx, requestId: ctx.requestId, current: 'environment', status: notice.status ?? 200 },
  );
}

function back(deps: DashboardDeps, ctx: DashboardContext): DashboardResult {
  return { kind: 'redirect', location: dashboardPath(deps, 'environment'), session: ctx.session };
}

/** `POST /dashboard/environment/redirect_uris` {uri, default?}: `addRedirectUri`, as the API does it. */
export async function addUri(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const uri = (form.uri ?? '').trim();
  try {
    const added = await addRedirectUri(deps.management, {
      uri,
      ...(form.default === 'on' ? { default: true } : {}),
    });
    deps.management.onConfigChange();
    await audit(
      deps,
      ctx,
      'redirect_uri.add',
      { type: 'redirect_uri', id: added.id },
      { uri: added.uri, default: added.default },
    );
  } catch (err) {
    const { status, message } = refusal(err);
    return environment(deps, ctx, { status, error: { section: 'redirect_uris', message }, form });
  }
  return back(deps, ctx);
}

/** `POST /dashboard/environment/redirect_uris/:id/default`. */
export async function makeDefault(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
): Promise<DashboardResult> {
  try {
    const updated = await setDefaultRedirectUri(deps.management, id);
    deps.management.onConfigChange();
    await audit(deps, ctx, 'redirect_uri.default', { type: 'redirect_uri', id }, { uri: updated.uri });
  } catch (err) {
    const { status, message } = refusal(err);
    return environment(deps, ctx, { status, error: { section: 'redirect_uris', message } });
  }
  return back(deps, ctx);
}

/** `POST /dashboard/environment/redirect_uris/:id/remove`. */
export async function removeUri(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
): Promise<DashboardResult> {
  try {
    const uri = (await deps.store.listRedirectUris()).find((u) => u.id === id)?.uri ?? null;
    await deleteRedirectUri(deps.management, id);
    deps.management.onConfigChange();
    await audit(deps, ctx, 'redirect_uri.remove', { type: 'redirect_uri', id }, { uri });
  } catch (err) {
    const { status, message } = refusal(err);
    return environment(deps, ctx, { status, error: { section: 'redirect_uris', message } });
  }
  return back(deps, ctx);
}

/** `POST /dashboard/environment/api_keys` {name}: `createApiKey`; the answer is the only page that shows the key. */
export async function createKey(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  let created: Awaited<ReturnType<typeof createApiKey>>;
  try {
    created = await createApiKey(deps.management, { name: (form.name ?? '').trim() });
  } catch (err) {
    const { status, message } = refusal(err);
    return environment(deps, ctx, { status, error: { section: 'api_keys', message }, form });
  }
  await audit(
    deps,
    ctx,
    'api_key.create',
    { type: 'api_key', id: created.id },
    { name: created.name, obfuscated_value: created.obfuscated_value },
  );
  return environment(deps, ctx, { newKey: { name: created.name, value: created.value } });
}

/** `POST /dashboard/environment/api_keys/:id/revoke` {confirm}: `revokeApiKey` (never the last active key). */
export async function revokeKey(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  if (form.confirm !== 'yes') {
    return environment(deps, ctx, {
      status: 422,
      error: {
        section: 'api_keys',
        message: 'Tick the box to confirm: apps that use this key stop working at once.',
      },
    });
  }
  try {
    const key = await deps.store.getApiKey(id);
    await revokeApiKey(deps.management, id);
    await audit(deps, ctx, 'api_key.revoke', { type: 'api_key', id }, { name: key?.name ?? null });
  } catch (err) {
    const { status, message } = refusal(err);
    return environment(deps, ctx, { status, error: { section: 'api_keys', message } });
  }
  return back(deps, ctx);
}
