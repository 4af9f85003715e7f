//! `faultline serve`: the store as a local web page.

use crate::cli::GlobalArgs;
use crate::exit::{bad_input, Outcome};
use std::io::Write;
use std::net::SocketAddr;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on. Loopback unless told otherwise: the pages show
    /// everything in the store. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub bind: SocketAddr,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|e| bad_input(format!("--bind {}: {e}", args.bind)))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            eprintln!("warning: serving on {addr}, reachable from other hosts");
        }
        // The first line says where: tests and scripts read the port from it.
        println!("serving {} at http://{addr}/", global.store.display());
        std::io::stdout().flush()?;
        tokio::select! {
            served = crate::web::serve(listener, global.store.clone()) => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(Outcome::Done)
    })
}
