//! `serve`: the HTTP API on a tokio runtime, until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;

use workflow_history::HistoryStore;
use workflow_history::api::Api;

use super::CliError;

/// Opens the database (read-only for reads; read-write too when the admin
/// token enables deletes), binds `addr`, prints the address it listens on,
/// and serves until a shutdown signal. A request waits at most `max_wait`
/// for a database connection.
pub(crate) fn serve(
    db: &str,
    addr: SocketAddr,
    admin_token: Option<String>,
    max_wait: std::time::Duration,
) -> Result<(), CliError> {
    // Opening read-write closes the runs of dead writers as abandoned, so
    // they are not served as running; a database the server may not write
    // is served as it is.
    let writable = HistoryStore::connect(db);
    let reads = HistoryStore::connect_read_only(db).map_err(CliError::open)?;
    let mut api = Api::new(reads.max_wait(max_wait));
    if let Some(token) = admin_token {
        api = api.admin(token, writable.map_err(CliError::open)?);
    }
    // Requests that fail on the server's side are logged here, on stderr;
    // their answers say only that they failed.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Serve { addr, source })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| CliError::Serve { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| CliError::Serve { addr, source })?;
        // Scripts (and the tests) read the real port from this line when
        // asking for port 0.
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on http://{bound}");
        let _ = stdout.flush();
        axum::serve(listener, api.router())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|source| CliError::Serve {
                addr: bound,
                source,
            })
    })
}

/// Resolves at Ctrl-C, or SIGTERM on Unix (what service managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM (or a kill) stops us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
