//! The `sportello` command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sportello::app::App;
use sportello::config::Config;
use sportello::store::Store;

/// Sportello: the pagoPA payments portal of an Italian municipality.
///
/// With no configuration at all, `sportello serve` runs the demo: a SQLite database under
/// ./data/, the demo municipality (Comune di Piacenza) and the pagoPA sandbox.
#[derive(Parser)]
#[command(name = "sportello", version, about, long_about = None, after_help = "Settings come from built-in defaults, then the TOML file, then SPORTELLO_* environment variables.\nRun `sportello settings` for the full list.")]
struct Cli {
    /// Configuration file (TOML). Default: ./sportello.toml when it exists.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "SPORTELLO_CONFIG",
        value_name = "PATH"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web portal, the pagoPA station (SOAP), the API and the background workers.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Only report what is applied and what is pending.
        #[arg(long)]
        status: bool,
    },
    /// List every setting with its environment variable and default.
    Settings,
    /// Check the configuration and print the effective values.
    CheckConfig,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Settings = cli.command {
        println!("{:<28} {:<36} DEFAULT", "SETTING", "VARIABLE");
        for (key, var, default) in Config::settings_table() {
            println!("{key:<28} {var:<36} {}", default.unwrap_or("-"));
        }
        return std::process::ExitCode::SUCCESS;
    }
    let config = match Config::from_env(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sportello: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    sportello::telemetry::init(config.log_format, &config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sportello: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("sportello: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = App::build(config).await?;
            app.run(sportello::web::shutdown_signal()).await
        }
        Command::Migrate { status } => {
            let store = Store::connect(&config.database_url).await?;
            if status {
                let s = store.migration_status().await?;
                println!("applied: {:?}\npending: {:?}", s.applied, s.pending);
            } else {
                let done = store.migrate().await?;
                if done.is_empty() {
                    println!("the database schema is up to date");
                } else {
                    println!("applied migrations {done:?}");
                }
            }
            store.close().await;
            Ok(())
        }
        Command::CheckConfig => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Settings => unreachable!("handled before the configuration is loaded"),
    }
}
