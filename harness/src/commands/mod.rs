//! The commands besides `run`, `validate` and `list`: `compare` (two runs' reports),
//! `provision` (blueprints and the MFA fixture into a real authentik) and `reproduce` (a user's
//! login through a throwaway copy of them).

pub mod compare;
pub mod doctor;
pub mod provision;
pub mod reproduce;
