//! `mock-chatgpt`: the mock ChatGPT relying party as a process, for docker-compose and for
//! pointing at a real authentik.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chatgpt_rp::{Config, MockChatGpt};
use clap::Parser;

/// A mock of ChatGPT's Custom OIDC single sign-on. Every setting can also be given as a
/// `MOCK_CHATGPT_*` environment variable (see chatgpt/README.md); the environment overrides the file.
#[derive(Debug, Parser)]
#[command(name = "mock-chatgpt", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MOCK_CHATGPT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// YAML configuration file.
    #[arg(long, env = "MOCK_CHATGPT_CONFIG")]
    config: Option<PathBuf>,
    /// The URL browsers reach this server under (overrides the file and MOCK_CHATGPT_PUBLIC_URL).
    #[arg(long)]
    public_url: Option<url::Url>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut config = match Config::load(args.config.as_deref(), &env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mock-chatgpt: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(url) = args.public_url {
        config.public_url = Some(url);
    }
    let server = match MockChatGpt::start_on(config, args.listen).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mock-chatgpt: {e}");
            return ExitCode::from(1);
        }
    };
    println!("mock-chatgpt listening on {} (public URL {})", server.local_addr(), server.url());
    println!("Login redirect URI: {}", server.redirect_uri());
    ak_protocol::stop_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
