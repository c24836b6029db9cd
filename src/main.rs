//! The `mcp-warden` binary: parses the command line and hands it to
//! [`mcp_warden::cli::main`], the one place that maps errors to exit codes.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = mcp_warden::cli::Cli::parse();
    std::process::exit(mcp_warden::cli::main(cli));
}
