//! The `ak-e2e` binary: reads the environment once and hands over to [`ak_e2e::cli`].

#[tokio::main]
async fn main() {
    let code = ak_e2e::cli::main(std::env::args().collect(), std::env::vars().collect()).await;
    std::process::exit(code);
}
