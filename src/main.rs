#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = mcp_warden::cli::Cli::parse();
    std::process::exit(mcp_warden::cli::main(cli));
}
