import type { SecretBox } from '../lib/secret-box.ts';
import type { Store } from '../storage/store.ts';

export interface ManagementDeps {
  store: Store;
  secretBox: SecretBox;
  /** Base of callback URLs shown to IT admins. */
  publicUrl: string;
  /** Whether http issuer URLs are accepted (GATEHOUSE_ALLOW_PRIVATE_URLS=on). */
  allowInsecureHttp: boolean;
}
