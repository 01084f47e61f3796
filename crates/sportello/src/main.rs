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
    /// Run only the sandbox (pagoPA Checkout, node and PSPs simulated) on `sandbox.listen`,
    /// calling the station at `sandbox.station_url`.
    Sandbox,
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
    /// Import data in bulk.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Reconciliation with pagoPA's reporting flows (FdR): see docs/reconciliation.md.
    #[command(subcommand)]
    Fdr(FdrCommand),
    /// The treasury's bank statement (camt.053 or CSV): see docs/reconciliation.md.
    #[command(subcommand)]
    Treasury(TreasuryCommand),
    /// Write the paper notices (PDF) of every payable position of a service into a ZIP.
    Notices {
        /// The catalog service code.
        #[arg(long)]
        service: String,
        /// The ZIP file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage the back office's operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator: prints a one-time initial password and the otpauth:// URI (with a
    /// QR code) for an authenticator app.
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// `admin` (everything) or `operator` (the services given with --service).
        #[arg(long, value_parser = ["admin", "operator"])]
        role: String,
        /// A catalog service code the operator works on, read-write (repeat for several).
        #[arg(long = "service", value_name = "CODE")]
        services: Vec<String>,
        /// A catalog service code the operator only reads (repeat for several).
        #[arg(long = "read-service", value_name = "CODE")]
        read_services: Vec<String>,
        /// An admin: looks but changes nothing. An operator: every service read-only.
        #[arg(long)]
        read_only: bool,
    },
    /// Disable an operator (their sessions end at once).
    Disable {
        /// Login name.
        username: String,
    },
}

#[derive(Subcommand)]
enum FdrCommand {
    /// One round now: new flows since the watermark, matched to receipts; missing receipts
    /// recovered from pagoPA; overdue anomalies opened.
    Sync {
        /// Print one JSON object per flow (fdr, pspId, revision, status, lines, matched, anomalies).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TreasuryCommand {
    /// Import a statement: camt.053 (XML) or CSV; importing the same file again changes nothing.
    Import {
        /// The file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import debt positions from a CSV file (layout in docs/import.md): all or nothing unless
    /// --partial; re-importing the same file changes nothing.
    Positions {
        /// The CSV file (`;` or `,`, UTF-8 with or without BOM, amounts in euro, dates gg/mm/aaaa).
        file: PathBuf,
        /// Write the good positions even when some rows are refused.
        #[arg(long)]
        partial: bool,
        /// Publish the imported positions (VALID) instead of leaving them DRAFT.
        #[arg(long)]
        publish: bool,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
        Command::Sandbox => {
            let station_url = config
                .sandbox_station_url
                .clone()
                .unwrap_or_else(|| format!("{}/pagopa/paForNode", config.public_url));
            let listener = tokio::net::TcpListener::bind(config.sandbox_listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.sandbox_listen))?;
            let url = sportello::app::url_of(listener.local_addr()?);
            let sandbox_config = sportello::app::sandbox_config(&config, &url, &station_url);
            tracing::info!(%url, station = %station_url, "sandbox (pagoPA simulated) is listening");
            sandbox::serve(listener, sandbox_config, sportello::web::shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate { status } => {
            let store = Store::connect(config.database_url.expose()).await?;
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
        Command::Import(ImportCommand::Positions {
            file,
            partial,
            publish,
            json,
        }) => import_positions(config, &file, partial, publish, json).await,
        Command::Notices { service, out } => notices(config, &service, &out).await,
        Command::Operator(command) => operator(config, command).await,
        Command::Fdr(FdrCommand::Sync { json }) => fdr_sync(config, json).await,
        Command::Treasury(TreasuryCommand::Import { file, json }) => {
            treasury_import(config, &file, json).await
        }
    }
}

/// `sportello operator add|disable`: the same use cases as the back office's operators' pages.
async fn operator(config: Config, command: OperatorCommand) -> anyhow::Result<()> {
    use sportello::backoffice::operators::{Access, Manager, OperatorAdmin};
    use sportello::backoffice::{BoError, Role, totp};
    let store = Store::open(config.database_url.expose()).await?;
    let known: Vec<String> = config
        .catalog
        .services
        .iter()
        .map(|s| s.code.clone())
        .collect();
    let admin = OperatorAdmin::new(
        &store,
        format!("Sportello {}", config.ente.name),
        known,
        &config.backoffice_secret_key,
    );
    let result = match command {
        OperatorCommand::Add {
            username,
            role,
            services,
            read_services,
            read_only,
        } => {
            let role = Role::parse(&role).unwrap_or(Role::Operator);
            let access = Access {
                role,
                services,
                read_only_services: read_services,
                read_only,
            };
            admin
                .create(Manager::CommandLine, &username, &access)
                .await
                .map(|created| {
                    println!("operatore {username} creato ({})", role.label());
                    println!(
                        "password iniziale (da cambiare al primo accesso): {}",
                        created.password
                    );
                    println!("chiave TOTP: {}", created.secret);
                    println!("{}", created.otpauth_uri);
                    if let Some(qr) = totp::terminal_qr(&created.otpauth_uri) {
                        println!("{qr}");
                    }
                })
        }
        OperatorCommand::Disable { username } => admin
            .set_disabled(Manager::CommandLine, &username, true)
            .await
            .map(|()| println!("operatore {username} disattivato")),
    };
    store.close().await;
    result.map_err(|e| match e {
        BoError::Invalid(_, message) | BoError::Conflict(message) => anyhow::anyhow!(message),
        other => other.into(),
    })
}

/// `sportello fdr sync`.
async fn fdr_sync(config: Config, json: bool) -> anyhow::Result<()> {
    let store = Store::open(config.database_url.expose()).await?;
    let ente = store.upsert_ente(&config.ente).await?;
    let result = sportello::recon::sync::sync_round(&store, &ente, &config.recon).await;
    store.close().await;
    let report = result?;
    for flow in &report.flows {
        if json {
            println!("{}", serde_json::to_string(flow)?);
        } else {
            println!(
                "{} (PSP {}, revisione {}): {} righe, {} abbinate, {} anomalie",
                flow.fdr,
                flow.psp_id,
                flow.revision,
                flow.lines,
                flow.matched,
                flow.anomalies.len()
            );
            for a in &flow.anomalies {
                println!(
                    "  {} {} {} {}: {}",
                    a.kind.as_str(),
                    a.iuv.as_deref().unwrap_or("-"),
                    a.iur.as_deref().unwrap_or("-"),
                    a.id_transfer.map(|t| t.to_string()).unwrap_or_default(),
                    a.detail
                );
            }
        }
    }
    if !json {
        println!(
            "flussi nuovi: {}; già presenti: {}; ricevute recuperate: {}; nuove anomalie per ritardo: {}",
            report.flows.len(),
            report.already_stored,
            report.recovered,
            report.overdue
        );
    }
    Ok(())
}

/// `sportello treasury import`.
async fn treasury_import(config: Config, file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let store = Store::open(config.database_url.expose()).await?;
    let ente = store.upsert_ente(&config.ente).await?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = sportello::recon::treasury::import_statement(&store, &ente, &name, &bytes).await;
    store.close().await;
    let report = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "movimenti: {}; accrediti importati: {}; già importati: {}; esclusi (addebiti, storni): {}; flussi riversati: {}; accrediti senza flusso: {}; importi diversi: {}",
            report.movements,
            report.imported,
            report.already_imported,
            report.skipped,
            report.flows_credited.len(),
            report.without_flow,
            report.amount_mismatch
        );
    }
    Ok(())
}

/// `sportello notices`: streams the ZIP to `out` with a progress bar on the terminal.
async fn notices(config: Config, service: &str, out: &std::path::Path) -> anyhow::Result<()> {
    let assets = sportello::assets::Assets::load(config.assets_dir.as_deref())?;
    let fonts = sportello::pdf::Fonts::from_assets(&assets)?;
    let store = Store::open(config.database_url.expose()).await?;
    let ente = store.upsert_ente(&config.ente).await?;
    let total = store.count_service_positions(ente.id, service).await?;
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:40}] {pos}/{len} avvisi ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let result = sportello::pdf::bulk::write_notices_zip(
        &store,
        &ente,
        &fonts,
        service,
        // Entries of about 40 KB: a 1 MB buffer writes the archive in large pieces.
        std::io::BufWriter::with_capacity(
            1 << 20,
            sportello::pdf::zipstream::DropBehindFile::new(file),
        ),
        |n| bar.set_position(n),
    )
    .await;
    bar.finish_and_clear();
    store.close().await;
    let (report, writer) = result?;
    writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?
        .into_inner()
        .sync_all()?;
    for s in &report.skipped {
        println!("escluso {s}");
    }
    println!(
        "avvisi scritti: {}; esclusi: {}; {} in {:.1} s",
        report.written,
        report.skipped.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `sportello import positions`: streams the file through the importer with a progress bar on
/// the terminal, prints the report, and fails when rows were refused.
async fn import_positions(
    config: Config,
    file: &std::path::Path,
    partial: bool,
    publish: bool,
    json: bool,
) -> anyhow::Result<()> {
    use sportello::import::{ImportOptions, import_positions};
    let opened = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let store = Store::open(config.database_url.expose()).await?;
    let ente = store.upsert_ente(&config.ente).await?;
    // Drawn on stderr, and only when it is a terminal: scripts and CI see just the report.
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let reader = bar.wrap_read(opened);
    let options = ImportOptions {
        partial,
        publish,
        actor_ip: String::new(),
    };
    let started = std::time::Instant::now();
    let result = import_positions(&store, &ente, reader, &options).await;
    bar.finish_and_clear();
    store.close().await;
    let report = result?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for e in &report.errors {
            println!(
                "riga {}{}{}: {}",
                e.row,
                e.iupd
                    .as_deref()
                    .map(|i| format!(" [{i}]"))
                    .unwrap_or_default(),
                e.column
                    .as_deref()
                    .map(|c| format!(" colonna {c}"))
                    .unwrap_or_default(),
                e.message
            );
        }
        if report.errors_not_listed > 0 {
            println!("… e altri {} errori non elencati", report.errors_not_listed);
        }
        if let Some(row) = report.stopped_at_row {
            println!(
                "lettura interrotta alla riga {row}: troppi errori, il file è comunque scartato"
            );
        }
        println!(
            "righe lette: {}; posizioni create: {}; invariate: {}; scartate: {} ({} righe); {}",
            report.rows_read,
            report.positions_created,
            report.positions_unchanged,
            report.positions_refused,
            report.rows_refused,
            if report.committed {
                "salvate".to_owned()
            } else if report.rows_refused > 0 && !partial {
                "nulla è stato salvato (usa --partial per salvare le posizioni corrette)".to_owned()
            } else {
                "nessuna modifica".to_owned()
            }
        );
        eprintln!(
            "{:.1} s, {:.0} posizioni/s",
            seconds,
            (report.positions_created + report.positions_unchanged) as f64 / seconds.max(1e-9)
        );
    }
    if report.rows_refused > 0 {
        anyhow::bail!("{} righe scartate", report.rows_refused);
    }
    Ok(())
}
