//! What the programs of the failing-collector benchmark share (see README.md).

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on SIGTERM or ctrl-c (SIGINT): how run.sh stops the service and the collector.
pub async fn stop_signal() {
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        // No SIGTERM handler could be installed: ctrl-c still stops the program.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
