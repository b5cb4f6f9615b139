//! Mock servers for hermetic runs of `ak-e2e`: the ChatGPT relying party ([`chatgpt`]) and
//! shared pieces (secrets, JOSE).

pub mod chatgpt;
mod html;
pub mod jose;
pub mod secret;
pub mod yaml;
pub mod totp;
pub mod authentik;
