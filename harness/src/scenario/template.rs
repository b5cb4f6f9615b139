//! `{{ users.ann.email }}`-style references to fixtures in scenario values.

use std::collections::BTreeMap;

use serde::Serialize;

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
    pub fn render(&self, vars: &BTreeMap<String, String>) -> String {
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

    use super::Template;

    #[test]
    fn renders_references() {
        let t = Template("{{ users.ann.email }} and {{x}}".into());
        assert_eq!(t.references(), ["users.ann.email", "x"]);
        let vars = BTreeMap::from([("users.ann.email".to_string(), "ann@example.com".to_string())]);
        assert_eq!(t.render(&vars), "ann@example.com and {{x}}");
    }
}
