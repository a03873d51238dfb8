import type { ConnectorDefinition } from '../connector.ts';
import {
  missingProviderOptions,
  type ProviderConfig,
  type ProviderType,
  parseProviderOptions,
  presentProviderOptions,
} from './config.ts';
import { openGitHub } from './github.ts';
import { openGoogle } from './google.ts';
import { openMicrosoft } from './microsoft.ts';

/**
 * OAuth provider connections ("Sign in with Google / Microsoft / GitHub"), selected with `provider=`. They
 * belong to the environment (no organization); the profile's organization follows from the verified domain
 * of the user's email, and the provider's tokens go to the app as `oauth_tokens`. Every connector here
 * returns only an email address that the provider has verified.
 */

const OPEN = {
  GoogleOAuth: openGoogle,
  MicrosoftOAuth: openMicrosoft,
  GitHubOAuth: openGitHub,
} as const;

function providerConnector(type: ProviderType): ConnectorDefinition {
  return {
    protocol: 'oauth',
    optionsKey: 'oauth_options',
    callbackSegment: 'oauth/callback',
    callbackMethod: 'GET',
    parseOptions: (input, existing, sealer, context) =>
      parseProviderOptions(type, input, existing, sealer, context),
    missingOptions: missingProviderOptions,
    presentOptions: (config, callbackUrl) => presentProviderOptions(type, config, callbackUrl),
    open: (config, sealer, deps, cacheKey) => OPEN[type](config as ProviderConfig, sealer, deps, cacheKey),
  };
}

export const providerConnectors: Record<ProviderType, ConnectorDefinition> = {
  GoogleOAuth: providerConnector('GoogleOAuth'),
  MicrosoftOAuth: providerConnector('MicrosoftOAuth'),
  GitHubOAuth: providerConnector('GitHubOAuth'),
};
