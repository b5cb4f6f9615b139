//! `{{ users.ann.email }}`-style references to fixtures in scenario values.

use std::collections::BTreeMap;

use serde::Serialize;

/// The values `{{ … }}` references resolve to in one application's run: the environment's
/// (`authentik.url`, `users.ann.email`, …) by name, and the application's own, always present
/// and read by the checks as fields (never a silent empty string for a missing key).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    named: BTreeMap<String, String>,
    /// The application's values.
    pub application: ApplicationVars,
}

/// The values of the application a scenario runs against.
#[derive(Debug, Clone, Default)]
pub struct ApplicationVars {
    /// `authentik.issuer`: the provider's issuer (`…/application/o/<slug>/`).
    pub issuer: String,
    /// `application.slug`.
    pub slug: String,
    /// `application.client_id`.
    pub client_id: String,
    /// `chatgpt.url`: the workspace's ChatGPT.
    pub chatgpt_url: String,
    /// `chatgpt.redirect_uri`: its callback.
    pub redirect_uri: String,
    /// `chatgpt.connection_id`.
    pub connection_id: String,
}

impl ApplicationVars {
    /// The value of one of the application's names.
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "authentik.issuer" => &self.issuer,
            "application.slug" => &self.slug,
            "application.client_id" => &self.client_id,
            "chatgpt.url" => &self.chatgpt_url,
            "chatgpt.redirect_uri" => &self.redirect_uri,
            "chatgpt.connection_id" => &self.connection_id,
            _ => return None,
        })
    }
}

impl Vars {
    /// The environment's named values and the application's.
    pub fn new(named: BTreeMap<String, String>, application: ApplicationVars) -> Self {
        Self { named, application }
    }

    /// The value a reference names, if the run defines it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.application.get(name).or_else(|| self.named.get(name).map(String::as_str))
    }
}

/// A string with `{{ name }}` references, resolved against the run's variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Template(pub String);

impl Template {
    /// The variable names referenced.
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end + 2..];
        }
        out
    }

    /// Substitutes every reference; unknown names are left as written (plans reject them first).
    pub fn render(&self, vars: &Vars) -> String {
        let mut out = String::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = after[..end].trim();
            match vars.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..start + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{ApplicationVars, Template, Vars};

    #[test]
    fn renders_references() {
        let t = Template("{{ users.ann.email }} and {{x}} at {{ application.client_id }}".into());
        assert_eq!(t.references(), ["users.ann.email", "x", "application.client_id"]);
        let named = BTreeMap::from([("users.ann.email".to_string(), "ann@example.com".to_string())]);
        let vars = Vars::new(named, ApplicationVars { client_id: "chatgpt".into(), ..Default::default() });
        assert_eq!(t.render(&vars), "ann@example.com and {{x}} at chatgpt");
    }

    /// Every fixed name of the scenario language resolves, to the application's field.
    #[test]
    fn every_fixed_name_resolves() {
        let vars = Vars::new(BTreeMap::from([("authentik.url".to_string(), "u".to_string())]), Default::default());
        for name in crate::scenario::FIXED_VARS {
            assert!(vars.get(name).is_some(), "{name}");
        }
    }
}
