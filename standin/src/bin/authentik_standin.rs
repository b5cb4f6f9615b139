//! `authentik-standin`: authentik's login surface for hermetic runs, provisioned from blueprints.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use authentik_standin::defects::CATALOGUE;
use authentik_standin::{AuthentikStandIn, Defects, Options};
use clap::Parser;

/// A stand-in for authentik's OAuth2 provider, flow executor and flow pages, configured by the
/// same blueprint files a real authentik applies. `!Env` in blueprints reads this process's
/// environment.
#[derive(Debug, Parser)]
#[command(name = "authentik-standin", version, after_help = defect_help())]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "AUTHENTIK_STANDIN_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Blueprint file (repeatable; applied in order).
    #[arg(long = "blueprint", required = true)]
    blueprints: Vec<PathBuf>,
    /// Misbehave like a misconfigured or regressed authentik (repeatable; see below).
    #[arg(long = "defect")]
    defects: Vec<String>,
    /// The URL clients use (default: http://<listen address>/).
    #[arg(long, env = "AUTHENTIK_STANDIN_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Give USERNAME a confirmed TOTP device with this hex secret (repeatable). authentik's
    /// blueprints cannot create devices, so they are given here.
    #[arg(long = "totp-device", value_name = "USERNAME=HEX")]
    totp_devices: Vec<String>,
    /// API token accepted by the blueprint import endpoint (authentik's bootstrap token).
    #[arg(long, env = "AUTHENTIK_BOOTSTRAP_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
}

fn defect_help() -> String {
    let mut text = String::from("Defects:\n");
    for (name, what) in CATALOGUE {
        text.push_str(&format!("  {name:<26} {what}\n"));
    }
    text
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let defects = match Defects::parse(&args.defects) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("authentik-standin: {e}");
            return ExitCode::from(1);
        }
    };
    let mut options = Options::new().env(std::env::vars().collect()).defects(defects);
    for path in &args.blueprints {
        options = match options.blueprint_file(path) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("authentik-standin: {e}");
                return ExitCode::from(1);
            }
        };
    }
    if let Some(url) = args.public_url {
        options = options.public_url(url);
    }
    for device in &args.totp_devices {
        let Some((user, hex)) = device.split_once('=') else {
            eprintln!("authentik-standin: --totp-device takes USERNAME=HEX, not `{device}`");
            return ExitCode::from(1);
        };
        options = options.totp_device(user, ak_protocol::secret::Secret::new(hex));
    }
    if let Some(token) = args.api_token {
        options = options.api_token(ak_protocol::secret::Secret::new(token));
    }
    let server = match AuthentikStandIn::start_on(options, args.listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("authentik-standin: {e}");
            return ExitCode::from(1);
        }
    };
    println!("authentik-standin listening on {} (public URL {})", server.local_addr(), server.url());
    for app in server.directory().applications {
        println!("application {}: {}", app.slug, server.discovery_url(&app.slug));
    }
    for defect in server.defects().iter() {
        println!("defect: {defect}");
    }
    ak_protocol::stop_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
