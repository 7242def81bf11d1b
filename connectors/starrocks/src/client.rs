//! HTTP to StarRocks: requests go to an FE of `load-url` (the next one
//! when one is unreachable), which redirects loads to a BE with a 307.
//! The client follows redirects itself: HTTP clients drop the
//! `Authorization` header when a redirect changes the host, and the BE
//! checks it again. Every request carries basic auth, and the ones with a
//! body `Expect: 100-continue`, as StarRocks wants: the FE answers with
//! the redirect before the body, which is for the BE alone. The HTTP
//! client sends a body without waiting for the `100 Continue`, so the
//! rows go only after the redirect: the FE gets the request's headers
//! with an empty body, and an FE that takes a load itself instead of
//! redirecting it is an error, since it would load nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{EXPECT, LOCATION};
use reqwest::{Method, StatusCode, Url};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::ErrorClass;

use crate::error::StarRocksError;
use crate::options::SinkOptions;
use crate::response::{LoadResponse, Verdict};

/// Redirects followed before giving up: an FE sends a load to one BE.
const MAX_REDIRECTS: usize = 3;

/// How much of an answer or an error log goes into a message.
const EXCERPT: usize = 1024;

/// One request: where, what, and the headers besides authentication.
pub(crate) struct Request<'a> {
    /// `GET`, `PUT` or `POST`.
    pub method: Method,
    /// The path and query on the FE: `/api/transaction/begin`.
    pub path: String,
    /// Headers.
    pub headers: &'a [(String, String)],
    /// The rows, for loads.
    pub body: Option<Bytes>,
}

/// The HTTP side of one sink subtask.
pub(crate) struct StreamLoadClient {
    http: reqwest::Client,
    /// `load-url`.
    fes: Vec<String>,
    /// The FE to try first.
    next_fe: AtomicUsize,
    username: String,
    password: String,
}

impl StreamLoadClient {
    /// A client for the FEs and credentials of `options`.
    pub(crate) fn new(
        table: &TableDescriptor,
        options: &SinkOptions,
    ) -> Result<Self, ConnectorError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(timeout) = options.request_timeout {
            builder = builder.timeout(timeout);
        }
        let http = builder.build().map_err(|e| {
            ConnectorError::external(
                &table.name,
                "cannot set up the HTTP client for Stream Load",
                ErrorClass::User,
                e,
            )
        })?;
        Ok(StreamLoadClient {
            http,
            fes: options.load_urls.clone(),
            next_fe: AtomicUsize::new(0),
            username: options.username.clone(),
            password: options.password.clone(),
        })
    }

    /// Sends `request` to an FE, the next one whenever one is unreachable,
    /// and reads StarRocks's answer.
    pub(crate) async fn send(&self, request: &Request<'_>) -> Result<LoadResponse, StarRocksError> {
        let first = self.next_fe.load(Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..self.fes.len() {
            let index = (first + offset) % self.fes.len();
            match self.send_to(&self.fes[index], request).await {
                Err(error @ StarRocksError::Unreachable { .. }) => {
                    tracing::warn!(fe = %self.fes[index], %error, "an FE of 'load-url' is unreachable");
                    last_error = Some(error);
                }
                answered => {
                    self.next_fe.store(index, Ordering::Relaxed);
                    return answered;
                }
            }
        }
        Err(last_error.expect("'load-url' holds at least one FE"))
    }

    /// Sends `request` to `fe`, following its redirects.
    async fn send_to(
        &self,
        fe: &str,
        request: &Request<'_>,
    ) -> Result<LoadResponse, StarRocksError> {
        let mut url = format!("{fe}{}", request.path);
        for hop in 0..=MAX_REDIRECTS {
            let mut builder = self
                .http
                .request(request.method.clone(), &url)
                .basic_auth(&self.username, Some(&self.password));
            for (name, value) in request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let at_fe = hop == 0;
            if let Some(body) = &request.body {
                let body = if at_fe { Bytes::new() } else { body.clone() };
                builder = builder.header(EXPECT, "100-continue").body(body);
            }
            let response = builder
                .send()
                .await
                .map_err(|source| StarRocksError::Unreachable {
                    url: url.clone(),
                    source,
                })?;
            if response.status().is_redirection() {
                url = redirect_target(&url, &response)?;
                continue;
            }
            let answer = self.answer(url.clone(), response).await?;
            if at_fe && request.body.is_some() && answer.verdict() == Verdict::Done {
                return Err(StarRocksError::Http {
                    url,
                    code: 200,
                    body: "the FE took a load without redirecting it to a BE".into(),
                });
            }
            return Ok(answer);
        }
        Err(StarRocksError::Redirects {
            url,
            hops: MAX_REDIRECTS,
        })
    }

    /// Reads an answer's body as a Stream Load answer.
    async fn answer(
        &self,
        url: String,
        response: reqwest::Response,
    ) -> Result<LoadResponse, StarRocksError> {
        let code = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| StarRocksError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if code == StatusCode::UNAUTHORIZED || code == StatusCode::FORBIDDEN {
            return Err(StarRocksError::Refused {
                url,
                user: self.username.clone(),
                code: code.as_u16(),
                body: excerpt(&body),
            });
        }
        match LoadResponse::parse(&body) {
            Ok(parsed) => Ok(parsed),
            Err(_) if !code.is_success() => Err(StarRocksError::Http {
                url,
                code: code.as_u16(),
                body: excerpt(&body),
            }),
            Err(source) => Err(StarRocksError::Malformed {
                url,
                body: excerpt(&body),
                source,
            }),
        }
    }

    /// The start of the error log at `url` (an answer's `ErrorURL`), or
    /// why it could not be read.
    pub(crate) async fn error_log(&self, url: &str) -> String {
        let fetched = async {
            let response = self
                .http
                .get(url)
                .basic_auth(&self.username, Some(&self.password))
                .send()
                .await?;
            response.bytes().await
        };
        match fetched.await {
            Ok(body) => excerpt(&body),
            Err(error) => format!("(cannot read it: {error})"),
        }
    }
}

/// Where a redirect answer points, relative to the URL it answered.
fn redirect_target(url: &str, response: &reqwest::Response) -> Result<String, StarRocksError> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| Url::parse(url).ok()?.join(location).ok());
    location
        .map(String::from)
        .ok_or_else(|| StarRocksError::Http {
            url: url.to_string(),
            code: response.status().as_u16(),
            body: "a redirect without a valid Location".into(),
        })
}

/// The start of a body, as text.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT)]);
    text.trim().to_string()
}
