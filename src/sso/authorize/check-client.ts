import { BrokerError } from '../../errors/broker-error.ts';
import { safeEqual } from '../../lib/tokens.ts';
import type { FlowDeps } from '../deps.ts';
import type { AuthorizeContext } from './context.ts';

/**
 * Step 1 (RFC 6749 §4.1.2.1): the client must be known before anything can be redirected.
 * Enforces: exactly one `client_id`, equal to the environment's client ID. Failures render a page.
 */
export function checkClient(ctx: AuthorizeContext, deps: FlowDeps): void {
  const values = ctx.query.values.get('client_id');
  const malformed = ctx.query.malformed.has('client_id');
  if (!values || (values[0] === '' && !malformed)) throw new BrokerError('client_id_missing');
  if (values.length > 1) throw new BrokerError('client_id_repeated');
  const clientId = values[0] as string;
  if (malformed || !safeEqual(clientId, deps.clientId)) {
    throw new BrokerError('client_id_unknown', {
      message: `The sign-in link names client_id "${clientId.slice(0, 80)}", which this Gatehouse does not know. Check the client ID the application is configured with.`,
    });
  }
  ctx.clientId = clientId;
}
