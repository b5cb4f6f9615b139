//! Each check, given values: a correct application finds no error or warning, and each
//! misconfiguration finds exactly its own error naming the setting.

use super::*;
use ak_protocol::authentik::admin::{PolicyRef, RedirectUri};
use serde_json::json;

const NOW: u64 = 1_800_000_000;

fn mapping(scope: &str, managed: bool) -> PropertyMapping {
    PropertyMapping {
        pk: format!("m-{scope}-{managed}"),
        name: format!("{scope} mapping"),
        managed: managed.then(|| format!("goauthentik.io/providers/oauth2/scope-{scope}")),
        scope_name: Some(scope.into()),
        expression: String::new(),
        meta_model_name: "authentik_providers_oauth2.scopemapping".into(),
    }
}

fn profile_output(keys: &[&str]) -> Option<Result<Map<String, Value>, String>> {
    Some(Ok(keys.iter().map(|k| (k.to_string(), json!("x"))).collect()))
}

/// An application as the corrected guide sets it up.
fn good() -> Facts {
    let provider: OAuth2Provider = serde_json::from_value(json!({
        "pk": 1, "name": "ChatGPT", "client_type": "confidential", "client_id": "c", "client_secret": "s",
        "redirect_uris": [{"matching_mode": "strict", "url": "https://external.auth.openai.com/sso/oidc/conn/callback"}],
        "property_mappings": ["a", "b", "c"], "signing_key": "k", "sub_mode": "hashed_user_id",
        "issuer_mode": "per_provider", "access_code_validity": "minutes=1", "access_token_validity": "minutes=5",
        "include_claims_in_id_token": true
    }))
    .expect("provider");
    Facts {
        application: serde_json::from_value(json!({"pk": "app", "name": "ChatGPT", "slug": "chatgpt", "provider": 1}))
            .expect("app"),
        provider: Some(provider),
        mappings: vec![
            (mapping("openid", true), None),
            (mapping("email", true), None),
            (mapping("profile", false), profile_output(&["given_name", "family_name", "name"])),
        ],
        unknown_mappings: Vec::new(),
        signing_key: Some(Ok(CertificateKeyPair {
            pk: "k".into(),
            name: "signing".into(),
            cert_expiry: Some(ak_protocol::time::iso8601(NOW as i64 + 365 * 86_400)),
            private_key_available: true,
            key_type: Some("rsa".into()),
        })),
        encryption_key: None,
        authorization_flow: FlowRead::Flow(Flow {
            pk: "f".into(),
            slug: "default-provider-authorization-implicit-consent".into(),
            name: String::new(),
            designation: "authorization".into(),
        }),
        token_superuser: true,
        bindings: vec![binding(true)],
        users: vec![user_facts(true, true, claims("Ann", "Lee", "ann@example.com"))],
        verified_domains: vec!["example.com".into()],
        now: NOW,
    }
}

fn binding(enabled: bool) -> PolicyBinding {
    serde_json::from_value(json!({
        "pk": "b", "group": "g", "group_obj": {"name": "chatgpt-users"}, "target": "app", "enabled": enabled
    }))
    .expect("binding")
}

fn claims(given: &str, family: &str, email: &str) -> Map<String, Value> {
    let name = format!("{given} {family}");
    json!({"sub": "abc", "email": email, "given_name": given, "family_name": family, "name": name.trim()})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn user_facts(active: bool, passing: bool, preview: Map<String, Value>) -> UserFacts {
    UserFacts {
        username: "ann".into(),
        user: Some(serde_json::from_value(json!({"pk": 5, "username": "ann", "is_active": active})).expect("user")),
        access: Some(AccessCheck { passing, messages: if passing { vec![] } else { vec!["not for you".into()] } }),
        preview: Some(UserPreview { preview }),
        devices: Vec::new(),
    }
}

/// The errors and warnings, as (setting, object) pairs.
fn problems(facts: &Facts) -> Vec<(Level, String, String)> {
    check(facts).into_iter().filter(|f| f.level != Level::Info).map(|f| (f.level, f.setting, f.object)).collect()
}

fn one_error(facts: &Facts, setting: &str, says: &str) {
    let found = check(facts);
    let errors: Vec<&Finding> = found.iter().filter(|f| f.level == Level::Error).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].setting, setting, "{errors:#?}");
    assert!(errors[0].message.contains(says), "{:?} does not say {says:?}", errors[0].message);
}

fn with_provider(change: impl FnOnce(&mut OAuth2Provider)) -> Facts {
    let mut facts = good();
    if let Some(p) = facts.provider.as_mut() {
        change(p);
    }
    facts
}

#[test]
fn the_corrected_guide_setup_has_no_error_or_warning() {
    assert_eq!(problems(&good()), vec![]);
    let notes: Vec<String> = check(&good()).into_iter().map(|f| f.setting).collect();
    assert_eq!(notes, ["Signing Key", "Subject mode", "Issuer mode", "Policy / Group / User Bindings"]);
}

#[test]
fn provider_settings() {
    one_error(&with_provider(|p| p.client_type = "public".into()), "Client type", "`public`");
    one_error(&with_provider(|p| p.redirect_uris.clear()), "Redirect URIs/Origins", "none");
    one_error(&with_provider(|p| p.include_claims_in_id_token = false), "Include claims in id_token", "off");
    let mut no_app_provider = good();
    no_app_provider.provider = None;
    one_error(&no_app_provider, "Provider", "no OAuth2/OpenID provider");
}

#[test]
fn redirect_uri_regexes_are_judged_by_what_they_let_through() {
    let regex = |url: &str| {
        with_provider(|p| p.redirect_uris = vec![RedirectUri { matching_mode: MatchingMode::Regex, url: url.into() }])
    };
    for open in [
        ".*",
        "https://.*",
        "https://chatgpt.com.*",
        r"https://chatgpt\.com.*",
        r"https?://(www\.)?chatgpt\.com.*",
        "https://[a-z.]+/sso/oidc/conn/callback",
    ] {
        one_error(&regex(open), "Redirect URIs/Origins", "open redirect");
    }
    let anchored = regex(r"https://external\.auth\.openai\.com/sso/oidc/[a-z_]+/callback");
    assert_eq!(
        problems(&anchored),
        vec![(Level::Warning, "Redirect URIs/Origins".into(), "provider ChatGPT".into())],
        "a regex tied to ChatGPT's host is only not Strict"
    );
}

#[test]
fn scopes_and_what_the_mappings_return() {
    let mut no_email = good();
    no_email.mappings.retain(|(m, _)| m.scope_name.as_deref() != Some("email"));
    one_error(&no_email, "Scopes", "`email`");

    let mut default_profile = good();
    default_profile.mappings[2] = (mapping("profile", true), None);
    let found = check(&default_profile);
    let family = found.iter().find(|f| f.message.contains("no `family_name`")).expect("family_name error");
    assert_eq!((family.level, family.setting.as_str()), (Level::Error, "Scopes"));
    assert!(family.message.contains("missing_claim_family_name") && family.message.contains("default `profile`"));

    let mut no_given = good();
    no_given.mappings[2].1 = profile_output(&["family_name"]);
    one_error(&no_given, "Scopes", "no `given_name`");

    let mut raising = good();
    raising.mappings[2].1 = Some(Err("NameError: name 'x' is not defined".into()));
    one_error(&raising, "Expression", "NameError");

    let mut not_scope = good();
    not_scope.unknown_mappings.push("m9".into());
    assert_eq!(problems(&not_scope), vec![(Level::Warning, "Scopes".into(), "provider ChatGPT".into())]);
}

#[test]
fn signing_keys() {
    let mut none = good();
    none.signing_key = None;
    one_error(&none, "Signing Key", "HS256");

    let key = |change: &dyn Fn(&mut CertificateKeyPair)| {
        let mut facts = good();
        if let Some(Ok(k)) = facts.signing_key.as_mut() {
            change(k);
        }
        facts
    };
    one_error(
        &key(&|k| k.cert_expiry = Some(ak_protocol::time::iso8601(NOW as i64 - 86_400))),
        "Signing Key",
        "expired on",
    );
    let soon = key(&|k| k.cert_expiry = Some(ak_protocol::time::iso8601(NOW as i64 + 10 * 86_400 + 60)));
    let found = check(&soon);
    let warning = found.iter().find(|f| f.level == Level::Warning).expect("a warning");
    assert!(warning.message.contains("(in 10 days)"), "{}", warning.message);
    assert!(warning.message.contains(&ak_protocol::time::iso8601(NOW as i64 + 10 * 86_400)[..10]));
    one_error(&key(&|k| k.key_type = Some("ed25519".into())), "Signing Key", "EdDSA");
    one_error(&key(&|k| k.private_key_available = false), "Signing Key", "no private key");
    let mut ec = key(&|k| k.key_type = Some("ec".into()));
    assert_eq!(problems(&ec), vec![]);
    ec.encryption_key = Some("jwe".into());
    one_error(&ec, "Encryption Key", "JWE");
}

#[test]
fn modes_validity_flow_and_bindings() {
    let email_sub = with_provider(|p| p.sub_mode = "user_email".into());
    assert_eq!(problems(&email_sub), vec![(Level::Warning, "Subject mode".into(), "provider ChatGPT".into())]);
    let short = with_provider(|p| {
        p.access_token_validity = "seconds=30".into();
        p.access_code_validity = "seconds=10".into();
    });
    let settings: Vec<String> = problems(&short).into_iter().map(|p| p.1).collect();
    assert_eq!(settings, ["Access token validity", "Access code validity"]);

    let mut no_flow = good();
    no_flow.authorization_flow = FlowRead::Unset;
    one_error(&no_flow, "Authorization flow", "none");
    let mut hidden = good();
    hidden.authorization_flow = FlowRead::NotVisible;
    assert_eq!(problems(&hidden), vec![], "a flow the token may not view is not a misconfiguration");

    let mut open = good();
    open.bindings = vec![binding(false)];
    assert_eq!(
        problems(&open),
        vec![(Level::Warning, "Policy / Group / User Bindings".into(), "application chatgpt".into())]
    );
    let policy: PolicyBinding = serde_json::from_value(json!({"pk": "p", "policy": "x", "target": "app"})).expect("b");
    let named = PolicyBinding {
        policy_obj: Some(PolicyRef { pk: "x".into(), name: "only staff".into(), component: String::new() }),
        ..policy
    };
    assert_eq!(named.subject(), "policy `only staff`");
}

#[test]
fn users_active_allowed_and_their_claims() {
    let user = |u: UserFacts| {
        let mut facts = good();
        facts.users = vec![u];
        facts
    };
    one_error(&user(user_facts(false, true, claims("Ann", "Lee", "ann@example.com"))), "Is active", "off");
    one_error(
        &user(user_facts(true, false, claims("Ann", "Lee", "ann@example.com"))),
        "Policy / Group / User Bindings",
        "\"not for you\"",
    );
    one_error(&user(user_facts(true, true, claims("Cid", "", "cid@example.com"))), "claim family_name", "empty");
    one_error(&user(user_facts(true, true, claims("Eve", "Other", "eve@other.org"))), "claim email", "other.org");
    let mut full = claims("Ann Lee", "Lee", "ann@example.com");
    full.insert("name".into(), json!("Ann Lee"));
    assert_eq!(
        problems(&user(user_facts(true, true, full))),
        vec![(Level::Warning, "claim given_name".into(), "user ann".into())]
    );
    let unknown = UserFacts { username: "nobody".into(), user: None, access: None, preview: None, devices: Vec::new() };
    one_error(&user(unknown), "Username", "no user");

    let mut not_superuser = good();
    not_superuser.token_superuser = false;
    assert_eq!(problems(&not_superuser), vec![(Level::Warning, "API token".into(), "application chatgpt".into())]);
    let mut no_domains = good();
    no_domains.verified_domains.clear();
    no_domains.users = vec![user_facts(true, true, claims("Eve", "Other", "eve@other.org"))];
    assert_eq!(problems(&no_domains), vec![], "without verified domains, no domain is judged");
}

/// A user with a TOTP device and recovery codes gets the throttling warning (authentik checks a
/// TOTP code against the recovery codes first); one with either alone does not.
#[test]
fn a_user_with_totp_and_recovery_codes_is_warned_that_totp_locks_the_codes() {
    let with = |devices: &[&str]| {
        let mut facts = good();
        let mut u = user_facts(true, true, claims("Ann", "Lee", "ann@example.com"));
        u.devices = devices.iter().map(|d| d.to_string()).collect();
        facts.users = vec![u];
        problems(&facts)
    };
    let totp = "authentik_stages_authenticator_totp.TOTPDevice";
    let codes = "authentik_stages_authenticator_static.StaticDevice";
    let passkey = "authentik_stages_authenticator_webauthn.WebAuthnDevice";
    assert_eq!(with(&[totp, passkey, codes]), vec![(Level::Warning, "MFA devices".into(), "user ann".into())]);
    assert_eq!(with(&[totp, passkey]), vec![]);
    assert_eq!(with(&[codes]), vec![]);
    let mut facts = good();
    let mut u = user_facts(true, true, claims("Ann", "Lee", "ann@example.com"));
    u.devices = vec![totp.into(), codes.into()];
    facts.users = vec![u];
    let found = check(&facts);
    let warning = found.iter().find(|f| f.setting == "MFA devices").expect("the warning");
    assert!(warning.message.contains("each TOTP sign-in locks their recovery codes for longer"), "{warning:?}");
    assert!(warning.fix.as_deref().is_some_and(|f| f.contains("a new device starts unlocked")), "{warning:?}");
}
