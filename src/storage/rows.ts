import type {
  AccessTokenRecord,
  ApiKeyRecord,
  AuditRecord,
  AuthorizationCodeRecord,
  ConnectionRecord,
  EventRecord,
  LoginTransactionRecord,
  OperatorLinkRecord,
  OperatorRecord,
  OrganizationDomainRecord,
  OrganizationRecord,
  PortalLinkRecord,
  ProfileRecord,
  RedirectUriRecord,
  SsoSessionRecord,
  WebhookAttemptError,
  WebhookAttemptRecord,
  WebhookDeliveryRecord,
  WebhookDeliveryState,
  WebhookEndpointRecord,
  WebhookEndpointStatus,
} from './store.ts';

/**
 * Rows → records, for every backend: the column names are the same everywhere (each backend's migrations make
 * them so); what differs is how its driver hands over three kinds of cell, which `cells` decodes.
 */

type Row = Record<string, unknown>;

export interface CellDecoder {
  /** A boolean column (SQLite: 0/1; PostgreSQL: boolean). */
  bool(v: unknown): boolean;
  /** A JSON document column that is never null (SQLite: text; PostgreSQL: json/jsonb, parsed by the driver). */
  json<T>(v: unknown): T;
  /** A timestamp column that is not null (SQLite: ISO text; PostgreSQL: timestamptz, a `Date` from the driver). */
  date(v: unknown): Date;
}

/** Text cells, alike in every driver. */
export const str = (v: unknown): string => String(v);
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function rowMappers(cells: CellDecoder) {
  const date = (v: unknown): Date => cells.date(v);
  const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : cells.date(v));
  const jsonOrNull = (v: unknown): Record<string, unknown> | null =>
    v === null || v === undefined ? null : cells.json<Record<string, unknown>>(v);
  return {
    organization(r: Row): OrganizationRecord {
      return {
        id: str(r.id),
        name: str(r.name),
        externalId: strOrNull(r.external_id),
        allowProfilesOutsideOrganization: cells.bool(r.allow_profiles_outside_organization),
        metadata: cells.json(r.metadata),
        stripeCustomerId: strOrNull(r.stripe_customer_id),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    event(r: Row): EventRecord {
      return {
        id: str(r.id),
        event: str(r.event),
        organizationId: strOrNull(r.organization_id),
        data: cells.json<Record<string, unknown>>(r.data),
        createdAt: date(r.created_at),
      };
    },

    portalLink(r: Row): PortalLinkRecord {
      return {
        id: str(r.id),
        tokenHash: str(r.token_hash),
        organizationId: str(r.organization_id),
        intent: str(r.intent) as PortalLinkRecord['intent'],
        returnUrl: strOrNull(r.return_url),
        successUrl: strOrNull(r.success_url),
        providerType: strOrNull(r.provider_type),
        adminEmails: cells.json<string[]>(r.admin_emails),
        createdAt: date(r.created_at),
        expiresAt: date(r.expires_at),
        openedAt: dateOrNull(r.opened_at),
      };
    },

    operator(r: Row): OperatorRecord {
      return {
        id: str(r.id),
        email: str(r.email),
        name: strOrNull(r.name),
        createdAt: date(r.created_at),
        lastSignInAt: dateOrNull(r.last_sign_in_at),
        disabledAt: dateOrNull(r.disabled_at),
      };
    },

    operatorLink(r: Row): OperatorLinkRecord {
      return {
        id: str(r.id),
        tokenHash: str(r.token_hash),
        purpose: str(r.purpose) as OperatorLinkRecord['purpose'],
        operatorId: strOrNull(r.operator_id),
        email: strOrNull(r.email),
        createdBy: strOrNull(r.created_by),
        createdAt: date(r.created_at),
        expiresAt: date(r.expires_at),
        usedAt: dateOrNull(r.used_at),
      };
    },

    audit(r: Row): AuditRecord {
      return {
        id: str(r.id),
        operatorId: strOrNull(r.operator_id),
        operatorEmail: strOrNull(r.operator_email),
        action: str(r.action),
        targetType: strOrNull(r.target_type),
        targetId: strOrNull(r.target_id),
        detail: cells.json<Record<string, unknown>>(r.detail),
        createdAt: date(r.created_at),
      };
    },

    domain(r: Row): OrganizationDomainRecord {
      return {
        id: str(r.id),
        organizationId: str(r.organization_id),
        domain: str(r.domain),
        state: str(r.state) as OrganizationDomainRecord['state'],
        verificationStrategy: str(
          r.verification_strategy,
        ) as OrganizationDomainRecord['verificationStrategy'],
        verificationToken: strOrNull(r.verification_token),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    connection(r: Row): ConnectionRecord {
      return {
        id: str(r.id),
        organizationId: strOrNull(r.organization_id),
        connectionType: str(r.connection_type),
        name: str(r.name),
        state: str(r.state) as ConnectionRecord['state'],
        externalKey: str(r.external_key),
        config: cells.json(r.config),
        firstLoginAt: dateOrNull(r.first_login_at),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    redirectUri(r: Row): RedirectUriRecord {
      return {
        id: str(r.id),
        uri: str(r.uri),
        isDefault: cells.bool(r.is_default),
        createdAt: date(r.created_at),
      };
    },

    apiKey(r: Row): ApiKeyRecord {
      return {
        id: str(r.id),
        name: str(r.name),
        keyHash: str(r.key_hash),
        lastFour: str(r.last_four),
        createdAt: date(r.created_at),
        revokedAt: dateOrNull(r.revoked_at),
      };
    },

    transaction(r: Row): LoginTransactionRecord {
      return {
        id: str(r.id),
        stateHash: str(r.tx_state_hash),
        browserHash: str(r.tx_browser_hash),
        clientId: str(r.client_id),
        connectionId: str(r.connection_id),
        organizationId: strOrNull(r.organization_id),
        redirectUri: str(r.redirect_uri),
        appState: strOrNull(r.tx_app_state),
        codeChallenge: strOrNull(r.tx_code_challenge),
        codeChallengeMethod: strOrNull(
          r.tx_code_challenge_method,
        ) as LoginTransactionRecord['codeChallengeMethod'],
        connectorState: str(r.tx_connector_state),
        requestId: str(r.authorize_request_id),
        sessionId: str(r.id),
        createdAt: date(r.tx_created_at),
        expiresAt: date(r.tx_expires_at),
        consumedAt: dateOrNull(r.tx_consumed_at),
        profileId: strOrNull(r.tx_profile_id),
        consentHash: strOrNull(r.tx_consent_hash),
        consentExpiresAt: dateOrNull(r.tx_consent_expires_at),
        consentDecidedAt: dateOrNull(r.tx_consent_decided_at),
        oauthTokens: strOrNull(r.tx_oauth_tokens),
      };
    },

    session(r: Row): SsoSessionRecord {
      return {
        id: str(r.id),
        clientId: str(r.client_id),
        connectionId: strOrNull(r.connection_id),
        organizationId: strOrNull(r.organization_id),
        connectionType: strOrNull(r.connection_type),
        redirectUri: str(r.redirect_uri),
        outcome: str(r.outcome) as SsoSessionRecord['outcome'],
        failedStage: strOrNull(r.failed_stage),
        reason: strOrNull(r.reason),
        wireCode: strOrNull(r.wire_code),
        upstreamError: jsonOrNull(r.upstream_error),
        detail: jsonOrNull(r.detail),
        profileId: strOrNull(r.profile_id),
        idpId: strOrNull(r.idp_id),
        email: strOrNull(r.email),
        authorizeRequestId: str(r.authorize_request_id),
        callbackRequestId: strOrNull(r.callback_request_id),
        consentRequestId: strOrNull(r.consent_request_id),
        stages: cells.json(r.stages),
        expiresAt: date(r.expires_at),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    profile(r: Row): ProfileRecord {
      return {
        id: str(r.id),
        connectionId: str(r.connection_id),
        idpId: str(r.idp_id),
        data: cells.json(r.data),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    authorizationCode(r: Row): AuthorizationCodeRecord {
      return {
        codeHash: str(r.code_hash),
        clientId: str(r.client_id),
        redirectUri: str(r.redirect_uri),
        codeChallenge: strOrNull(r.code_challenge),
        profileId: str(r.profile_id),
        sessionId: str(r.session_id),
        oauthTokens: strOrNull(r.oauth_tokens),
        createdAt: date(r.created_at),
        expiresAt: date(r.expires_at),
        consumedAt: dateOrNull(r.consumed_at),
      };
    },

    accessToken(r: Row): AccessTokenRecord {
      return {
        tokenHash: str(r.token_hash),
        codeHash: str(r.code_hash),
        clientId: str(r.client_id),
        profileId: str(r.profile_id),
        createdAt: date(r.created_at),
        expiresAt: date(r.expires_at),
        revokedAt: dateOrNull(r.revoked_at),
      };
    },

    // ---- webhooks ----
    webhookEndpoint(r: Row): WebhookEndpointRecord {
      return {
        id: str(r.id),
        url: str(r.url),
        secret: str(r.secret),
        status: str(r.status) as WebhookEndpointStatus,
        events: cells.json<string[]>(r.events),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      };
    },

    /** A delivery without its attempts (`history` is filled by the caller). */
    webhookDelivery(r: Row): WebhookDeliveryRecord {
      return {
        endpointId: str(r.endpoint_id),
        eventId: str(r.event_id),
        event: str(r.event),
        state: str(r.state) as WebhookDeliveryState,
        attempts: Number(r.attempts),
        nextAttemptAt: dateOrNull(r.next_attempt_at),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
        history: [],
      };
    },

    webhookAttempt(r: Row): WebhookAttemptRecord {
      return {
        attempt: Number(r.attempt),
        startedAt: date(r.started_at),
        outcome: str(r.outcome) as WebhookAttemptRecord['outcome'],
        responseStatus: r.response_status === null ? null : Number(r.response_status),
        latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
        error: strOrNull(r.error) as WebhookAttemptError | null,
      };
    },
  };
}
