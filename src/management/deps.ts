import type { FetchLike, UpstreamFetchError } from '../lib/safe-fetch.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type { Store } from '../storage/store.ts';

export interface ManagementDeps {
  store: Store;
  /** Called before the response to any write, so that this node's sign-in flow sees the change at once. */
  onConfigChange: () => void;
  secretBox: SecretBox;
  /** Base of callback URLs shown to IT admins. */
  publicUrl: string;
  /** Whether http issuer URLs are accepted (GATEHOUSE_ALLOW_PRIVATE_URLS=on). */
  allowInsecureHttp: boolean;
  /** SSRF-guarded fetch for documents connection options point at (SAML metadata URLs). */
  fetch: FetchLike;
  /** The management API's rate limit per API key. */
  limiter: RateLimiter;
  /** Why deliveries may not reach a webhook endpoint URL (the SSRF guard, its name resolved now), or null. */
  checkWebhookUrl: (url: string) => Promise<UpstreamFetchError | null>;
}
