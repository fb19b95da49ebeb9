//! A fake GitHub code-scanning API on 127.0.0.1: records SARIF uploads and answers
//! with a chosen status (202 then `complete`/`failed` processing, 403, 413).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// How the fake answers an upload.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 202, then these processing statuses in turn (the last one repeats).
    Accept(Vec<&'static str>),
    Forbidden,
    TooLarge,
}

/// One upload as received.
#[derive(Clone, Debug)]
pub struct Upload {
    pub owner: String,
    pub repo: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub answer: Answer,
    pub uploads: Arc<Mutex<Vec<Upload>>>,
    pub polls: Arc<Mutex<usize>>,
}

impl FakeGithub {
    pub fn new(answer: Answer) -> Self {
        FakeGithub {
            answer,
            uploads: Arc::new(Mutex::new(Vec::new())),
            polls: Arc::new(Mutex::new(0)),
        }
    }
}

async fn upload(
    State(s): State<FakeGithub>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    s.uploads.lock().unwrap().push(Upload {
        owner,
        repo,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
    match &s.answer {
        Answer::Accept(_) => (
            StatusCode::ACCEPTED,
            Json(json!({"id": "47177e22-5596-11eb-80a1-c1e54ef945c6", "url": "http://unused"})),
        ),
        Answer::Forbidden => (
            StatusCode::FORBIDDEN,
            Json(
                json!({"message": "Advanced Security must be enabled for this repository to use code scanning."}),
            ),
        ),
        Answer::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"message": "SARIF file is too large"})),
        ),
    }
}

async fn status(
    State(s): State<FakeGithub>,
    Path((_owner, _repo, id)): Path<(String, String, String)>,
) -> (StatusCode, Json<Value>) {
    let n = {
        let mut p = s.polls.lock().unwrap();
        *p += 1;
        *p
    };
    let Answer::Accept(statuses) = &s.answer else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"})));
    };
    let st = statuses
        .get(n - 1)
        .or(statuses.last())
        .copied()
        .unwrap_or("complete");
    let mut v = json!({
        "processing_status": st,
        "analyses_url": format!("http://fake/analyses?sarif_id={id}"),
    });
    if st == "failed" {
        v["errors"] = json!(["locationFromSarifResult: expected artifact location"]);
    }
    (StatusCode::OK, Json(v))
}

/// The code-scanning SARIF endpoints, reusable by other test modules.
pub fn sarif_router(state: FakeGithub) -> Router {
    Router::new()
        .route("/repos/{owner}/{repo}/code-scanning/sarifs", post(upload))
        .route(
            "/repos/{owner}/{repo}/code-scanning/sarifs/{id}",
            get(status),
        )
        .with_state(state)
}

/// Serve `router` on an ephemeral 127.0.0.1 port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Serve on a thread with its own runtime (for tests that run the blocking CLI).
pub fn serve_blocking(router: Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let base = serve(router).await;
            tx.send(base).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}
