//! Twins of a production application: for a run, a throwaway OAuth2 provider and application
//! (`ak-e2e-twin-…`) that copy the production provider's settings (flows, scope mappings,
//! signing and encryption keys, subject and issuer modes, token validity, every other setting
//! authentik shows) and the application's policy engine mode and bindings (the same groups,
//! users and policies, with order, negate, enabled, timeout and failure result). Only the name,
//! the client id, a client secret of its own and the redirect URI (the mock ChatGPT's, strict)
//! differ. The production objects are only read.
//!
//! A twin is deleted with the run (see [`crate::environment::throwaway`]); deleting its
//! application deletes its bindings, as authentik does.
//!
//! What a twin cannot copy: an expression that reads the application's or the provider's own
//! name or slug sees the twin's, and with the issuer mode "per provider" the issuer names the
//! twin's slug. Both are said in the README.

use std::collections::HashMap;

use ak_protocol::authentik::admin::{
    self, Application, MatchingMode, NewApplication, OAuth2Provider, PolicyBinding, RedirectUri, path,
};
use ak_protocol::secret::Secret;

use crate::config::{SecretRef, Settings};
use crate::environment::TargetError;
use crate::environment::admin_api::{AdminApi, ApiFailure};
use crate::environment::throwaway::{self, Cleanup, Kind};

/// Gives every application that is a twin (`twin_of`) the twin's name as its slug and client id
/// and a fresh client secret in a variable of its own, added to `vars`; called before planning.
pub fn prepare(settings: &mut Settings, vars: &mut HashMap<String, String>) {
    for (name, app) in settings.applications.iter_mut() {
        if app.twin_of.is_none() {
            continue;
        }
        let twin = throwaway::name(Kind::Twin);
        let var = format!("AK_E2E_TWIN_{}_CLIENT_SECRET", name.to_ascii_uppercase().replace(['-', '.'], "_"));
        vars.insert(var.clone(), ak_protocol::jose::random_token(32));
        app.slug = twin.clone();
        app.client_id = twin;
        app.client_secret = SecretRef { env: var, file: None };
    }
}

/// What the production application is made of, as read.
struct Production {
    application: Application,
    provider: OAuth2Provider,
    bindings: Vec<PolicyBinding>,
}

/// Reads the production application `slug`, its OAuth2 provider and its bindings.
async fn read(api: &AdminApi, slug: &str) -> Result<Production, TargetError> {
    let fail = |e: crate::environment::admin_api::ApiError| TargetError(e.message);
    let application: Application = match api.find(&path::one(path::APPLICATIONS, slug)).await.map_err(fail)? {
        Some(app) => app,
        None => {
            return Err(TargetError(format!("authentik has no application with the slug `{slug}` to make a twin of")));
        }
    };
    let pk = application.provider.ok_or_else(|| {
        TargetError(format!("application `{slug}` has no provider: there is nothing to make a twin of"))
    })?;
    let provider: OAuth2Provider =
        api.find(&path::one(path::OAUTH2_PROVIDERS, pk)).await.map_err(fail)?.ok_or_else(|| {
            TargetError(format!("the provider of application `{slug}` is not an OAuth2/OpenID provider"))
        })?;
    let bindings = api.all(path::BINDINGS, &[("target", &application.pk)]).await.map_err(fail)?;
    Ok(Production { application, provider, bindings })
}

/// Makes the twin `twin` of production application `of` with `redirect_uri` and `secret`,
/// adding what it made to `cleanup`; answers a line saying what was copied.
pub async fn make(
    api: &AdminApi,
    of: &str,
    twin: &str,
    secret: &Secret,
    redirect_uri: &str,
    cleanup: &mut Cleanup,
) -> Result<String, TargetError> {
    let production = read(api, of).await?;
    let redirect = vec![RedirectUri { matching_mode: MatchingMode::Strict, url: redirect_uri.to_string() }];
    let body = production.provider.copy_as(twin, twin, secret, redirect);
    let made = |what: &str, e: crate::environment::admin_api::ApiError| {
        let hint = if e.kind == ApiFailure::Refused {
            " (the token must be allowed to create providers, applications and bindings)"
        } else {
            ""
        };
        TargetError(format!("could not make the twin's {what}: {e}{hint}"))
    };
    let provider: OAuth2Provider = api.post(path::OAUTH2_PROVIDERS, &body).await.map_err(|e| made("provider", e))?;
    cleanup.add(format!("the twin provider {twin}"), path::one(path::OAUTH2_PROVIDERS, provider.pk));
    let new_app = NewApplication {
        name: twin.to_string(),
        slug: twin.to_string(),
        provider: provider.pk,
        policy_engine_mode: production.application.policy_engine_mode,
    };
    let application: Application = api.post(path::APPLICATIONS, &new_app).await.map_err(|e| made("application", e))?;
    cleanup.add(format!("the twin application {twin}"), path::one(path::APPLICATIONS, &application.slug));
    for binding in &production.bindings {
        let _: admin::PolicyBinding = api
            .post(path::BINDINGS, &binding.copy_to(&application.pk))
            .await
            .map_err(|e| made(&format!("binding of {}", binding.subject()), e))?;
    }
    let p = &production.provider;
    Ok(format!(
        "made {twin}, a twin of application `{of}` (provider `{}`: {} scope mapping(s), {}, subject mode {}, \
         issuer mode {}; {} binding(s), policy engine mode {:?}), redirect URI {redirect_uri}",
        p.name,
        p.property_mappings.len(),
        if p.signing_key.is_some() { "its signing key" } else { "no signing key" },
        p.sub_mode,
        p.issuer_mode,
        production.bindings.len(),
        production.application.policy_engine_mode,
    ))
}
