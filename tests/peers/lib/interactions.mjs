// Login and consent without a UI: visiting the interaction URL finishes the pending prompt at
// once (login with a fixed account id; consent granting every requested OIDC scope, claim and
// resource scope) and redirects back to the provider, so a script with a cookie jar can follow
// the whole authorization-code flow.

/**
 * Build the request handler for `<issuer path>/interaction/<uid>`. `getProvider` returns the
 * current Provider (it changes on key rotation); `accountId` is the fixed end-user id.
 */
export function interactionHandler(getProvider, { accountId, log }) {
  return async function handleInteraction(req, res) {
    const provider = getProvider();
    try {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params } = details;

      if (prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId } }, {
          mergeWithLastSubmission: false,
        });
        return;
      }

      if (prompt.name === 'consent') {
        const missing = prompt.details ?? {};
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
        const grantId = await grant.save();
        const consent = details.grantId ? {} : { grantId };
        await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
        return;
      }

      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: `prompt ${prompt.name} is not supported by this test server`,
      }, { mergeWithLastSubmission: false });
    } catch (err) {
      log(`interaction failed: ${err?.message ?? err}`);
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'interaction_failed', error_description: String(err?.message ?? err) }));
      }
    }
  };
}
