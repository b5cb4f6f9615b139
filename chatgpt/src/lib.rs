//! The mock ChatGPT relying party: ChatGPT's "Custom OIDC" single sign-on, as strict as the real
//! one, with a JSON record of every sign-in attempt.

pub mod config;
mod id_token;
mod oidc;
mod pages;
mod provider;
pub mod record;
pub mod second_opinion;
mod server;

pub use config::{Alg, ClientAuth, Config, ConfigError};
pub use oidc::REQUIRED_CLAIMS;
pub use pages::Shown;
pub use record::{Attempt, Check, ErrorCode, Failure, Mode, Outcome, Profile, Verdict};
pub use server::{MockChatGpt, StartError};
