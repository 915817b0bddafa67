//! The `palisade` command: serve the showcase app, audit a site, manage keys and users.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use palisade_app::{AppConfig, Settings};

mod log_writer;

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
    /// Manage Drop's accounts in the data directory.
    User(UserArgs),
    /// Print the routes that take unsafe requests without a CSRF token, with the reason for
    /// each, for review.
    Routes(RoutesArgs),
}

#[derive(Debug, clap::Args)]
struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,

    /// A TOML configuration file (as for `serve`).
    #[arg(long, env = "PALISADE_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    /// The data directory (as for `serve`).
    #[arg(long, env = "PALISADE_DATA_DIR", value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,

    /// The public URL (as for `serve`), which invitation links start with.
    #[arg(long, env = "PALISADE_PUBLIC_URL", value_name = "URL", global = true)]
    public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a verified account. The password is read from a prompt, or from standard input
    /// with --password-stdin.
    Create {
        /// The account's address.
        #[arg(long)]
        email: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account and end its sessions at once.
    Disable {
        /// The account's address.
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The account's address.
        email: String,
    },
    /// Invite an address to register (for the `invite` and `domains:` registration modes):
    /// prints a single-use registration link, valid for seven days, to send to its holder.
    Invite {
        /// The invited address; only it can register with the link.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, clap::Args)]
struct RoutesArgs {
    /// Print only the tab-separated list (method, path, reason), without the heading.
    #[arg(long)]
    csrf_exempt: bool,
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
        Command::User(args) => report(user(args)),
        Command::Routes(args) => report(routes(&args)),
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
    // Dropping the guard flushes the log lines still buffered.
    let _log_guard = init_logging(config.log_json).context("starting the log writer")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(palisade_app::run(config))
}

fn user(args: UserArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let flags = Settings {
        data_dir: args.data_dir.clone(),
        public_url: args.public_url.clone(),
        ..Settings::default()
    };
    let config = AppConfig::resolve(flags.over(file))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let admin = palisade_app::admin_tools(config).await?;
        match args.command {
            UserCommand::Create {
                email,
                admin: is_admin,
                password_stdin,
            } => {
                let password = read_password(password_stdin)?;
                let user = admin.create_user(&email, &password, is_admin).await?;
                println!(
                    "created {} (id {}){}",
                    user.email,
                    user.id,
                    if is_admin { ", admin" } else { "" }
                );
            }
            UserCommand::List => {
                for u in admin.list_users().await? {
                    let status = if u.is_disabled() {
                        "disabled"
                    } else if u.is_verified() {
                        "active"
                    } else {
                        "unverified"
                    };
                    let role = if u.is_admin { "admin" } else { "user" };
                    println!("{}\t{}\t{}\t{}", u.id, u.email, status, role);
                }
            }
            UserCommand::Disable { email } => {
                let ended = admin.set_disabled(&email, true).await?;
                println!("disabled {email}; {ended} sessions ended");
            }
            UserCommand::Enable { email } => {
                admin.set_disabled(&email, false).await?;
                println!("enabled {email}");
            }
            UserCommand::Invite { email } => {
                let link = admin.invite(&email).await?;
                println!("{link}");
            }
        }
        Ok(())
    })
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    if !from_stdin && std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ").context("reading the password")?;
        anyhow::ensure!(!password.is_empty(), "no password given");
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password given");
    Ok(password)
}

fn routes(args: &RoutesArgs) -> anyhow::Result<()> {
    let config = AppConfig::resolve(Settings::default())?;
    let csrf = palisade_app::csrf_config(&config)?;
    if !args.csrf_exempt {
        println!("Every route checks CSRF on unsafe methods except:");
    }
    for e in csrf.exemptions() {
        println!("{}\t{}\t{}", e.method, e.path, e.reason);
    }
    Ok(())
}

/// Logs go to stderr in batches written by a thread of their own, so a slow terminal or pipe
/// never stalls a request that logs (see `log_writer`).
fn init_logging(json: bool) -> std::io::Result<log_writer::FlushGuard> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `target=level` lists (`info,sqlx=warn`): decided per call site once, with no work per
    // span or event, unlike a filter that can also match span fields.
    let from = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<Targets>().ok())
    };
    let filter = from("PALISADE_LOG")
        .or_else(|| from("RUST_LOG"))
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(tracing::Level::INFO)
                .with_target("sqlx", tracing::Level::WARN)
        });
    // Colour codes only for a person at a terminal, never into a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !json;
    let (writer, guard) = log_writer::buffered_stderr(ansi)?;
    let format = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(format.json()).init();
    } else {
        registry.with(format).init();
    }
    Ok(guard)
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
