//! faultline as a library: an etcd client written in Rust against
//! [`faultline_api::Client`] (re-exported by the harness as
//! `faultline::client::Client`), instead of an adapter process. It depends on
//! `faultline-api` alone, not on the harness.
//!
//! [`EtcdClient`] performs the register/kv ops (`read`, `write`, `cas`) on
//! etcd's JSON gateway and maps every outcome honestly: `ok` when etcd said
//! so, `fail` only when the op certainly had no effect, `info` otherwise.
//! [`EtcdClients`] is the [`ClientFactory`] that opens one per worker. The node
//! lifecycle comes from `examples/etcd/etcd.toml` through
//! `faultline::system::SystemDb` — the two routes mix.

mod http;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use faultline_api::{BoxFuture, Client, ClientFactory, Completion, NodeInfo, Request};
use serde_json::{json, Value};
use std::time::Duration;

pub use http::HttpError;

/// One worker's client of one etcd node.
pub struct EtcdClient {
    addr: String,
    /// The node's name, recorded with each op.
    name: Option<String>,
}

impl EtcdClient {
    /// A client of the node whose client port is at `addr` (`host:port`).
    pub fn new(addr: impl Into<String>) -> EtcdClient {
        EtcdClient {
            addr: addr.into(),
            name: None,
        }
    }

    /// Names the node (`n2`), so the history says which node answered.
    pub fn named(mut self, name: impl Into<String>) -> EtcdClient {
        self.name = Some(name.into());
        self
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let (status, body) = http::post(&self.addr, path, &body.to_string())
            .await
            .map_err(Failure::Http)?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| Failure::Http(HttpError::Garbled(e.to_string())))?;
        match answer.get("error").or(answer.get("message")) {
            Some(error) => Err(Failure::Etcd(
                error.as_str().map_or(error.to_string(), str::to_string),
            )),
            None if status != 200 => Err(Failure::Etcd(format!("HTTP {status}"))),
            None => Ok(answer),
        }
    }

    async fn perform(&self, request: &Request) -> Result<Completion, Failure> {
        let key = B64.encode(request.key.as_deref().unwrap_or_default());
        let encode = |v: &Value| B64.encode(v.to_string());
        match request.f.as_str() {
            "read" => {
                let answer = self.call("/v3/kv/range", json!({ "key": key })).await?;
                let value = match answer["kvs"].get(0) {
                    None => Value::Null,
                    Some(kv) => {
                        let bytes = B64
                            .decode(kv["value"].as_str().unwrap_or_default())
                            .map_err(|e| Failure::Etcd(format!("bad base64 value: {e}")))?;
                        serde_json::from_slice(&bytes)
                            .map_err(|e| Failure::Etcd(format!("value is not JSON: {e}")))?
                    }
                };
                Ok(Completion::Ok { value })
            }
            "write" => {
                let body = json!({ "key": key, "value": encode(&request.value) });
                self.call("/v3/kv/put", body).await?;
                Ok(Completion::Ok { value: Value::Null })
            }
            "cas" => {
                let (old, new) = (&request.value[0], &request.value[1]);
                // "Unset" is a key that was never created.
                let compare = if old.is_null() {
                    json!({"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
                } else {
                    json!({"key": key, "target": "VALUE", "result": "EQUAL", "value": encode(old)})
                };
                let put = json!({"request_put": {"key": key, "value": encode(new)}});
                let answer = self
                    .call(
                        "/v3/kv/txn",
                        json!({"compare": [compare], "success": [put]}),
                    )
                    .await?;
                // proto3 JSON leaves out a false `succeeded`.
                Ok(if answer["succeeded"].as_bool().unwrap_or(false) {
                    Completion::Ok { value: Value::Null }
                } else {
                    Completion::Fail {
                        error: "precondition".into(),
                    }
                })
            }
            other => Ok(Completion::Fail {
                error: format!("unsupported op {other:?}"),
            }),
        }
    }
}

/// Why an op did not get an answer from etcd.
enum Failure {
    Http(HttpError),
    Etcd(String),
}

impl Client for EtcdClient {
    // Pinned to one node: every op goes there and is answered there.
    fn next_node(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn last_node(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn invoke<'a>(
        &'a mut self,
        request: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let is_read = request.f == "read";
            // A read has no effect: if it did not answer, it simply failed.
            let unsure = |error: String| {
                if is_read {
                    Completion::Fail { error }
                } else {
                    Completion::Info { error }
                }
            };
            match tokio::time::timeout(timeout, self.perform(request)).await {
                Err(_) => unsure("timeout".into()),
                Ok(Ok(completion)) => completion,
                Ok(Err(Failure::Http(HttpError::Connect(e)))) => Completion::Fail {
                    error: format!("connect: {e}"),
                },
                Ok(Err(Failure::Http(e))) => unsure(format!("{e:?}")),
                Ok(Err(Failure::Etcd(error)))
                    if error.starts_with("etcdserver: too many requests") =>
                {
                    Completion::Fail { error }
                }
                Ok(Err(Failure::Etcd(error))) => unsure(error),
            }
        })
    }
}

/// Opens one [`EtcdClient`] per worker, on the node the controller names.
pub struct EtcdClients {
    pub nodes: Vec<NodeInfo>,
}

impl ClientFactory for EtcdClients {
    fn open(&self, _worker: usize, node: usize) -> BoxFuture<'_, anyhow::Result<Box<dyn Client>>> {
        Box::pin(async move {
            let node = self
                .nodes
                .get(node % self.nodes.len().max(1))
                .ok_or_else(|| anyhow::anyhow!("no etcd nodes"))?;
            let client = EtcdClient::new(node.client_addr.clone()).named(node.name.clone());
            Ok(Box::new(client) as Box<dyn Client>)
        })
    }
}
