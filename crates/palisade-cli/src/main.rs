//! The `palisade` command: serve the showcase app, audit a site, manage keys and users.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use palisade_app::{AppConfig, Settings};

/// Palisade: secure-by-default web applications.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve Drop, the showcase app, over HTTPS (with an HTTP listener that only redirects).
    ///
    /// Settings come from the TOML file given with --config, then PALISADE_* environment
    /// variables over it, then flags over those.
    Serve(Box<ServeArgs>),
    /// Check a running web application against the practices, with evidence.
    ///
    /// Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 on usage or
    /// connection errors.
    Audit(Box<palisade_audit::AuditArgs>),
    /// Manage secret keys.
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// A TOML configuration file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "PALISADE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Print a fresh random secret key (32 random bytes, base64url).
    Generate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => report(serve(*args)),
        Command::Audit(args) => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("palisade audit: starting the async runtime: {err}");
                    return ExitCode::from(2);
                }
            };
            let code = runtime.block_on(palisade_audit::run(*args));
            ExitCode::from(u8::try_from(code).unwrap_or(2))
        }
        Command::Secret(SecretCommand::Generate) => {
            println!("{}", palisade::secret::KeyRing::generate_key_string());
            ExitCode::SUCCESS
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("palisade: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let config = AppConfig::resolve(args.settings.over(file))?;
    init_logging(config.log_json);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(palisade_app::run(config))
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PALISADE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_serve_setting_has_a_flag_and_a_palisade_variable() {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments().filter(|a| a.get_id() != "help") {
            let long = arg
                .get_long()
                .unwrap_or_else(|| panic!("{} has no flag", arg.get_id()));
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("{long} has no env"))
                .to_str()
                .unwrap();
            assert_eq!(
                env,
                format!("PALISADE_{}", long.replace('-', "_").to_uppercase())
            );
        }
    }
}
