//! The web UI of `faultline serve`: the run list (filter by verdict and
//! target), a page per run, and the store's files. Read-only; serves nothing
//! outside the store.

pub mod files;
pub mod pages;

use crate::report;
use crate::store::{self, RunInfo, RunRef};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use faultline_checkers::jsonl;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Ctx {
    store: PathBuf,
}

/// The routes, serving the store at `store`.
pub fn router(store: PathBuf) -> Router {
    let ctx = Arc::new(Ctx { store });
    Router::new()
        .route("/", get(list))
        .route("/runs/latest", get(latest))
        .route("/runs/:test/:stamp", get(run))
        .route("/files/*path", get(file))
        .fallback(|| async { not_found("There is no such page.") })
        .with_state(ctx)
}

/// Serves until the listener fails or the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, store: PathBuf) -> std::io::Result<()> {
    axum::serve(listener, router(store)).await
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::not_found_page(what))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(pages::layout(
            "error",
            &format!(
                "<h1>Error</h1><pre>{}</pre>",
                report::html::escape(&e.to_string())
            ),
        )),
    )
        .into_response()
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

async fn list(State(ctx): State<Arc<Ctx>>, Query(filter): Query<pages::Filter>) -> Response {
    let store = ctx.store.clone();
    blocking(move || match store::list(&store) {
        Ok(runs) => {
            let infos: Vec<RunInfo> = runs.iter().map(RunInfo::load).collect();
            Html(pages::list_page(&infos, &filter)).into_response()
        }
        Err(e) => internal(e),
    })
    .await
    .unwrap_or_else(|r| r)
}

async fn latest(State(ctx): State<Arc<Ctx>>) -> Response {
    match store::resolve(&ctx.store, store::LATEST) {
        Ok(run) => Redirect::to(&format!("/runs/{}", pages::url_path(&run.id()))).into_response(),
        Err(_) => not_found("The store has no runs yet."),
    }
}

async fn run(
    State(ctx): State<Arc<Ctx>>,
    UrlPath((test, stamp)): UrlPath<(String, String)>,
) -> Response {
    let store = ctx.store.clone();
    blocking(move || {
        let id = format!("{test}/{stamp}");
        let dir = match files::resolve(&store, &id) {
            Ok(dir) if dir.is_dir() => dir,
            _ => return not_found(&format!("There is no run {id} in the store.")),
        };
        let run = RunRef { test, stamp, dir };
        let info = RunInfo::load(&run);
        let history_path = run.dir.join("history.jsonl");
        let history = match history_path.is_file() {
            true => jsonl::read_file(&history_path).ok().map(|r| r.history),
            false => None,
        };
        match store::files(&run.dir) {
            Ok(listing) => Html(pages::run_page(&info, history.as_ref(), &listing)).into_response(),
            Err(e) => internal(e),
        }
    })
    .await
    .unwrap_or_else(|r| r)
}

async fn file(State(ctx): State<Arc<Ctx>>, UrlPath(path): UrlPath<String>) -> Response {
    let store = ctx.store.clone();
    blocking(move || {
        let made = match files::resolve(&store, &path) {
            Ok(full) if full.is_file() => std::fs::read(&full)
                .map(|bytes| (files::content_type(&full), bytes))
                .map_err(internal),
            Ok(_) => Err(not_found(&format!("{path} is not a file."))),
            Err(files::Refused::Escapes) => Err((
                StatusCode::FORBIDDEN,
                Html(pages::layout(
                    "forbidden",
                    "<h1>Forbidden</h1><p>Only files inside the store are served.</p>",
                )),
            )
                .into_response()),
            Err(files::Refused::NotFound) => match render_missing_report(&store, &path) {
                Some(Ok(made)) => Ok(made),
                Some(Err(e)) => Err(internal(e)),
                None => Err(not_found(&format!("There is no file {path} in the store."))),
            },
        };
        match made {
            Ok((kind, bytes)) => (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                bytes,
            )
                .into_response(),
            Err(r) => r,
        }
    })
    .await
    .unwrap_or_else(|r| r)
}

/// A run written before its reports were (or by a controller that did not
/// write them) still gets a timeline and plots: made from its history on
/// request, not stored.
fn render_missing_report(
    store: &Path,
    path: &str,
) -> Option<anyhow::Result<(&'static str, Vec<u8>)>> {
    let (run_id, name) = path.rsplit_once('/')?;
    if ![report::TIMELINE, report::LATENCY, report::RATE].contains(&name) {
        return None;
    }
    let dir = files::resolve(store, run_id).ok()?;
    let history_path = dir.join("history.jsonl");
    if !history_path.is_file() {
        return None;
    }
    Some((|| {
        let history = jsonl::read_file(&history_path)?.history;
        let results = std::fs::read_to_string(dir.join("results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let analysis = report::ops::Analysis::of(&history);
        Ok(match name {
            report::TIMELINE => (
                "text/html; charset=utf-8",
                report::timeline::render(run_id, &history, results.as_ref()).into_bytes(),
            ),
            report::LATENCY => (
                "image/svg+xml",
                report::plots::latency_svg(&analysis)?.into_bytes(),
            ),
            _ => (
                "image/svg+xml",
                report::plots::rate_svg(&analysis)?.into_bytes(),
            ),
        })
    })())
}
