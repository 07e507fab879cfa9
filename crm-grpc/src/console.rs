//! The web console: the page and its assets, built under `console/` and embedded in the binary,
//! served on the API's own port so the page calls `crm.v1` through gRPC-Web on its own origin.
//!
//! Only `GET` and `HEAD` of paths that are not gRPC methods reach here; every call (a `POST` to
//! `/package.Service/Method`) passes through to the services. With the console off, those paths
//! are answered 404 and nothing of the console is sent.
//!
//! A server that checks no keys (loopback, authentication off) answers browsers only when they
//! name it by address or as `localhost`: a page of another site whose name was re-pointed at
//! 127.0.0.1 (DNS rebinding) would otherwise be same-origin with the console and could read and
//! change every customer. Browsers always send `Host`, and `Origin` with every call, so those
//! requests are refused with 403; clients that are not browsers send no `Origin` and pass.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Response, StatusCode, header};

/// The built console (`console/dist`, rebuilt by `npm run build` there and committed).
#[derive(rust_embed::RustEmbed)]
#[folder = "../console/dist/"]
struct Assets;

/// Serves the console's files, when on, in front of the services.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleLayer {
    enabled: bool,
    named_hosts_refused: bool,
}

impl ConsoleLayer {
    /// The console served (`enabled`) or refused with 404; with `named_hosts_refused` (a server
    /// that checks no keys), browsers that reach it by a DNS name other than `localhost` are
    /// refused.
    pub fn new(enabled: bool, named_hosts_refused: bool) -> Self {
        ConsoleLayer {
            enabled,
            named_hosts_refused,
        }
    }
}

impl<S> tower::Layer<S> for ConsoleLayer {
    type Service = ConsoleService<S>;

    fn layer(&self, inner: S) -> ConsoleService<S> {
        ConsoleService {
            layer: *self,
            inner,
        }
    }
}

/// [`ConsoleLayer`] around a service.
#[derive(Clone, Debug)]
pub struct ConsoleService<S> {
    layer: ConsoleLayer,
    inner: S,
}

type Body = tonic::body::Body;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ConsoleService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method();
        let page = method == Method::GET || method == Method::HEAD;
        let browser = page || request.headers().contains_key(header::ORIGIN);
        if self.layer.named_hosts_refused && browser && !local_host(&request) {
            return Box::pin(std::future::ready(Ok(refused(
                StatusCode::FORBIDDEN,
                "this server checks no API keys, so browsers must reach it as localhost or by its address",
            ))));
        }
        if !page {
            return Box::pin(self.inner.call(request));
        }
        let head = method == Method::HEAD;
        let response = if self.layer.enabled {
            asset(request.uri().path(), head)
        } else {
            refused(
                StatusCode::NOT_FOUND,
                "the console is off (crm-server --console)",
            )
        };
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// The file at `path`: `/` is the page; the page's routes live in the fragment (`#/customers`),
/// so every other path is an asset or 404.
fn asset(path: &str, head: bool) -> Response<Body> {
    let name = match path.trim_start_matches('/') {
        "" | "index.html" => "index.html",
        other => other,
    };
    let Some(file) = Assets::get(name) else {
        return refused(StatusCode::NOT_FOUND, "no such page or file");
    };
    let cache = if name == "index.html" {
        // The page names its assets by content hash; the page itself is always revalidated.
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let body = if head {
        Body::empty()
    } else {
        Body::new(http_body_util::Full::new(bytes_of(file.data)))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(headers);
    response
}

fn bytes_of(data: std::borrow::Cow<'static, [u8]>) -> bytes::Bytes {
    match data {
        std::borrow::Cow::Borrowed(b) => bytes::Bytes::from_static(b),
        std::borrow::Cow::Owned(v) => bytes::Bytes::from(v),
    }
}

/// The headers every console response carries: the page runs only its own scripts, talks only
/// to its own origin, and is never framed.
fn secure(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Whether the request names the server as `localhost` or by an IP address (the `Host` header,
/// or HTTP/2's `:authority`).
fn local_host<B>(request: &http::Request<B>) -> bool {
    let authority = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let Some(authority) = authority else {
        return false;
    };
    let host = match authority.rsplit_once(':') {
        // `[::1]:50051`, `127.0.0.1:50051`, `localhost:50051`
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

fn refused(status: StatusCode, why: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(why.as_bytes()),
    )));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(response.headers_mut());
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_served_with_its_guards_and_unknown_paths_are_404() {
        let page = asset("/", false);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(
            asset("/no/such/file.js", false).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            asset("/../Cargo.toml", false).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn only_addresses_and_localhost_are_local_names() {
        let with_host = |host: &str| {
            http::Request::builder()
                .header(header::HOST, host)
                .body(())
                .unwrap_or_default()
        };
        for local in [
            "127.0.0.1:50051",
            "localhost:50051",
            "LOCALHOST",
            "[::1]:50051",
            "10.0.0.7",
        ] {
            assert!(local_host(&with_host(local)), "{local}");
        }
        for named in [
            "evil.example:50051",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "",
        ] {
            assert!(!local_host(&with_host(named)), "{named}");
        }
    }
}
