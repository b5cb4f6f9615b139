//! The `ak-e2e` binary: listens for Ctrl-C and SIGTERM before anything else, reads the
//! environment once and hands over to [`ak_e2e::cli`]. A signal drops the run, whose cleanup
//! (browsers, chromedriver, profile folders, servers) runs as it is dropped, then exits 130
//! (SIGINT) or 143 (SIGTERM).

#[tokio::main]
async fn main() {
    let mut signals = ak_e2e::StopSignals::install();
    let run = ak_e2e::cli::main(std::env::args().collect(), std::env::vars().collect());
    let code = tokio::select! {
        code = run => code,
        stopped = signals.wait() => {
            ak_e2e::say!("ak-e2e: stopped by {}; browsers and servers stopped", stopped.name());
            stopped.exit_code()
        }
    };
    std::process::exit(code);
}
