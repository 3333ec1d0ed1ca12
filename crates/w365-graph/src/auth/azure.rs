//! Token sources backed by Microsoft's `azure_identity` crate.
//!
//! `azure_identity` refuses authority hosts that are not https. The tenant simulator serves its
//! token endpoint on `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`, so for a loopback
//! authority the credential is configured with the same host and port under `https`, and a
//! custom `azure_core` transport ([`LoopbackTransport`]) sends those requests over plain http.
//! The simulator thereby goes through exactly the credential code that talks to Entra ID.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential as AzureTokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, ExponentialRetryOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::cache::TokenSource;
use super::certificate::CertificateAssertion;
use super::{AccessToken, AuthContext, Credential};
use crate::Result;
use crate::error::Error;

/// The transport under every `azure_identity` credential.
///
/// 1. For a loopback authority it sends requests for `https://{host}:{port}` over plain http.
/// 2. It rewrites the JSON body of failed token responses so that `azure_identity` 1.0 can parse
///    it: that version reads `error_description` as a borrowed `&str`, which fails on every real
///    Entra ID description (they contain `\r\n` escapes before "Trace ID"), turning a precise
///    AADSTS error into an opaque "invalid type" error. Control characters, quotes and
///    backslashes in the string fields become plain characters; codes are untouched.
#[derive(Debug)]
pub(crate) struct EntraTransport {
    inner: Arc<dyn HttpClient>,
    loopback: Option<(String, u16)>,
}

fn unescape_friendly(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

fn sanitize_error_body(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    for (_, field) in object.iter_mut() {
        if let serde_json::Value::String(text) = field {
            *text = unescape_friendly(text);
        }
    }
    serde_json::to_vec(&value).ok()
}

#[async_trait::async_trait]
impl HttpClient for EntraTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let url = request.url();
        let to_loopback = self.loopback.as_ref().is_some_and(|(host, port)| {
            url.scheme() == "https"
                && url.host_str() == Some(host.as_str())
                && url.port_or_known_default() == Some(*port)
        });
        let response = if to_loopback {
            let mut request = request.clone();
            request.url_mut().set_scheme("http").map_err(|()| {
                azure_core::Error::with_message(
                    ErrorKind::Other,
                    "cannot map the loopback authority to http",
                )
            })?;
            self.inner.execute_request(&request).await?
        } else {
            self.inner.execute_request(request).await?
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let (status, headers, body) = response.deconstruct();
        let body = body.collect().await?;
        let body = sanitize_error_body(&body).unwrap_or_else(|| body.to_vec());
        Ok(AsyncRawResponse::from_bytes(status, headers, body))
    }
}

/// `azure_identity` options for the configured authority: the https authority host it will accept
/// and, for a loopback http authority, the transport that reaches it.
fn client_options(authority: &url::Url) -> Result<ClientOptions> {
    let host = authority
        .host_str()
        .ok_or_else(|| Error::config("the authority URL has no host"))?
        .to_owned();
    let port = authority
        .port_or_known_default()
        .ok_or_else(|| Error::config("the authority URL has no port"))?;
    let mut options = ClientOptions {
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 3,
            ..ExponentialRetryOptions::default()
        }),
        ..ClientOptions::default()
    };
    let loopback = authority.scheme() == "http";
    // http is only reachable for loopback hosts: Cloud validation refuses other http URLs.
    let authority_host = if loopback {
        format!(
            "https://{}:{port}",
            authority_host_literal(authority, &host)
        )
    } else {
        authority.origin().ascii_serialization()
    };
    options.transport = Some(Transport::new(Arc::new(EntraTransport {
        inner: azure_core::http::new_http_client(None),
        loopback: loopback.then_some((host, port)),
    })));
    let mut custom = CustomConfiguration::default();
    custom.authority_host = authority_host;
    options.cloud = Some(Arc::new(CloudConfiguration::Custom(custom)));
    Ok(options)
}

fn authority_host_literal(authority: &url::Url, host: &str) -> String {
    match authority.host() {
        Some(url::Host::Ipv6(_)) => format!("[{}]", host.trim_matches(['[', ']'])),
        _ => host.to_owned(),
    }
}

type Factory = Box<dyn Fn() -> Result<Arc<dyn AzureTokenCredential>> + Send + Sync>;

/// A token source over an `azure_identity` credential.
///
/// `azure_identity` keeps its own cache which cannot be bypassed; a forced refresh (after Graph
/// rejected a token) therefore builds a fresh credential instance, which has an empty cache.
pub(crate) struct AzureSource {
    kind: &'static str,
    scope: String,
    factory: Factory,
    current: Mutex<Arc<dyn AzureTokenCredential>>,
    redact: Option<SecretString>,
}

impl fmt::Debug for AzureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureSource")
            .field("kind", &self.kind)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn setup_error(kind: &'static str, err: azure_core::Error) -> Error {
    Error::Auth {
        credential: kind,
        aadsts: None,
        oauth_error: None,
        status: None,
        message: "the credential could not be set up".to_owned(),
        source: Some(Box::new(err)),
    }
}

impl AzureSource {
    fn from_factory(
        kind: &'static str,
        ctx: &AuthContext,
        factory: Factory,
        redact: Option<SecretString>,
    ) -> Result<Self> {
        let current = factory()?;
        Ok(AzureSource {
            kind,
            scope: ctx.scope.clone(),
            factory,
            current: Mutex::new(current),
            redact,
        })
    }

    /// Client secret, managed identity or Azure CLI.
    pub(crate) fn new(credential: Credential, ctx: &AuthContext) -> Result<Self> {
        let kind = credential.kind();
        match credential {
            Credential::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                if secret.expose_secret().is_empty() {
                    return Err(Error::config("the client secret is empty"));
                }
                let authority = ctx.authority.clone();
                let redact = Some(secret.clone());
                let factory: Factory = Box::new(move || {
                    let options = ClientSecretCredentialOptions {
                        client_options: client_options(&authority)?,
                    };
                    let cred = ClientSecretCredential::new(
                        &tenant_id,
                        client_id.clone(),
                        Secret::new(secret.expose_secret().to_owned()),
                        Some(options),
                    )
                    .map_err(|e| setup_error(kind, e))?;
                    Ok(cred as Arc<dyn AzureTokenCredential>)
                });
                Self::from_factory(kind, ctx, factory, redact)
            }
            Credential::ManagedIdentity { client_id } => {
                let factory: Factory = Box::new(move || {
                    let options = ManagedIdentityCredentialOptions {
                        user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                        ..ManagedIdentityCredentialOptions::default()
                    };
                    let cred = ManagedIdentityCredential::new(Some(options))
                        .map_err(|e| setup_error(kind, e))?;
                    Ok(cred as Arc<dyn AzureTokenCredential>)
                });
                Self::from_factory(kind, ctx, factory, None)
            }
            Credential::AzureCli => {
                let factory: Factory = Box::new(move || {
                    let cred = AzureCliCredential::new(Some(AzureCliCredentialOptions::default()))
                        .map_err(|e| setup_error(kind, e))?;
                    Ok(cred as Arc<dyn AzureTokenCredential>)
                });
                Self::from_factory(kind, ctx, factory, None)
            }
            other => Err(Error::config(format!(
                "{} credentials are not served by azure_identity",
                other.kind()
            ))),
        }
    }

    /// Certificate: `ClientAssertionCredential` with our own signed assertion.
    pub(crate) fn certificate(
        ctx: &AuthContext,
        tenant_id: String,
        client_id: String,
        assertion: CertificateAssertion,
    ) -> Result<Self> {
        let kind = "certificate";
        let authority = ctx.authority.clone();
        let factory: Factory = Box::new(move || {
            let options = ClientAssertionCredentialOptions {
                client_options: client_options(&authority)?,
            };
            let cred = ClientAssertionCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                assertion.clone(),
                Some(options),
            )
            .map_err(|e| setup_error(kind, e))?;
            Ok(cred as Arc<dyn AzureTokenCredential>)
        });
        Self::from_factory(kind, ctx, factory, None)
    }
}

#[async_trait::async_trait]
impl TokenSource for AzureSource {
    async fn fetch(&self, force: bool) -> Result<AccessToken> {
        let credential = {
            if force {
                let fresh = (self.factory)()?;
                let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
                *current = fresh;
            }
            self.current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        let token = credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| map_error(self.kind, e, self.redact.as_ref()))?;
        let left = token.expires_on - azure_core::time::OffsetDateTime::now_utc();
        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
        Ok(AccessToken {
            token: SecretString::from(token.token.secret().to_owned()),
            expires_on: SystemTime::now() + left,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EntraError {
    error: Option<String>,
    error_description: Option<String>,
    error_codes: Vec<i64>,
}

/// What an AADSTS code means for the person running the tool.
pub(crate) fn aadsts_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "7000215" => "the client secret is wrong (use the secret's value, not its id)",
        "7000222" => "the client secret has expired",
        "700016" => "the application (client id) was not found in this tenant",
        "700024" => "the client assertion is outside its validity window (check the clock)",
        "700027" => {
            "the certificate is not registered on the application or the assertion signature is invalid"
        }
        "70011" => "the requested scope is invalid",
        "90002" => "the tenant was not found",
        "900144" => "a required field of the token request is missing",
        "7000218" => "the request needs a client secret or client assertion",
        _ => return None,
    })
}

/// The description up to "Trace ID:" (Entra appends trace, correlation id and timestamp on
/// separate lines), followed by the trace id for support cases.
fn summarize_description(description: &str) -> String {
    let (head, tail) = match description.find("Trace ID:") {
        Some(i) => (
            &description[..i],
            Some(&description[i + "Trace ID:".len()..]),
        ),
        None => (description, None),
    };
    let head = head.split_whitespace().collect::<Vec<_>>().join(" ");
    match tail.and_then(|t| t.split_whitespace().next()) {
        Some(trace) => format!("{head} (trace id {trace})"),
        None => head,
    }
}

fn redact(text: &str, secret: Option<&SecretString>) -> String {
    match secret {
        Some(s) if !s.expose_secret().is_empty() => text.replace(s.expose_secret(), "[redacted]"),
        _ => text.to_owned(),
    }
}

/// Maps an `azure_identity` failure to [`Error::Auth`], extracting the token endpoint's AADSTS
/// code and description from the raw response. The secret never appears in the result.
pub(crate) fn map_error(
    kind: &'static str,
    err: azure_core::Error,
    secret: Option<&SecretString>,
) -> Error {
    let mut cursor: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = cursor {
        if let Some(az) = current.downcast_ref::<azure_core::Error>()
            && let ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } = az.kind()
        {
            let body: EntraError = raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice(r.body().as_ref()).ok())
                .unwrap_or_default();
            let aadsts = if body.error_codes.is_empty() {
                error_code.clone()
            } else {
                Some(
                    body.error_codes
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                )
            };
            let description = body
                .error_description
                .as_deref()
                .map(|d| redact(&summarize_description(d), secret))
                .unwrap_or_else(|| "no error description".to_owned());
            let hint = aadsts
                .as_deref()
                .and_then(|codes| codes.split(',').find_map(aadsts_hint));
            let message = match hint {
                Some(hint) => format!("{hint}; the token endpoint said: {description}"),
                None => format!("the token endpoint refused the request: {description}"),
            };
            return Error::Auth {
                credential: kind,
                aadsts,
                oauth_error: body.error,
                status: Some(u16::from(*status)),
                message,
                source: None,
            };
        }
        cursor = current.source();
    }
    let _ = secret;
    Error::Auth {
        credential: kind,
        aadsts: None,
        oauth_error: None,
        status: None,
        message: "no token could be obtained".to_owned(),
        source: Some(Box::new(err)),
    }
}
