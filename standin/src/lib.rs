//! The authentik stand-in: authentik's login surface (OIDC provider, flow executor, flow pages)
//! for hermetic runs, provisioned from the same blueprints as a real authentik, with switchable
//! defects.

mod admin_api;
mod admin_objects;
mod authorize;
pub mod blueprint;
pub mod defects;
pub mod directory;
pub mod expr;
mod flow;
mod oauth;
mod pages;
mod plan;
mod server;
mod setup;
mod shared;
mod state;
mod static_setup;
mod totp_setup;
mod webauthn_setup;

pub use defects::{Defect, Defects};
pub use directory::Directory;
pub use server::{AuthentikStandIn, Options, StartError};
