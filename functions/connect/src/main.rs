//! The connect function: links the accounts a user publishes to through each network's
//! consent page, and unlinks them (DESIGN sections 7 and 8).
//!
//! `POST /v1/connect/bluesky` (signed) links a Bluesky account at once from its
//! identifier and an app password (`bluesky.rs`). For the other networks,
//! `POST /v1/connect/{network}` (signed by the source app) starts a link: a single-use
//! state and, for X, a PKCE verifier are stored sealed for 10 minutes, and the answer
//! is the consent page's URL. The network sends the browser back to
//! `GET /v1/oauth/{network}/callback`, which takes the state, exchanges the code,
//! identifies the account, stores its tokens sealed and sends the browser on to the
//! source app's return URL. `DELETE /v1/users/{user_id}/accounts/{network}/{account_id}`
//! (signed) revokes at the network where it can, removes the account and fails the
//! deliveries still waiting for it.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

mod bluesky;
mod link;
mod routes;
mod unlink;

use crosspost_aws::secrets::{FromSecret, LazySecret};
use crosspost_aws::{AccountsStore, EventQueue, PostsStore, Sealer, TokenVault};
use crosspost_core::linking::{Linker, ReturnUrls};
use crosspost_core::signing::SigningSecret;
use crosspost_core::Network;
use crosspost_lambda::Env;
use crosspost_networks::facebook::oauth::{AppCredentials, FacebookLogin, LoginSettings};
use crosspost_networks::facebook::Graph;
use crosspost_networks::x::oauth::{ClientCredentials, XOAuth};
use crosspost_networks::x::{XClient, XLinker};
use lambda_http::{service_fn, Error};

/// Everything a request needs, built once per cold start. Secrets are read at the
/// first request that needs each: a callback needs only its network's credentials, a
/// Bluesky link only the signing secrets, so start-up reads none.
pub struct App {
    pub vault: TokenVault,
    pub posts: PostsStore,
    pub events: Option<EventQueue>,
    /// The source app's signing secrets, for the signed routes.
    pub signing: FromSecret<Vec<SigningSecret>>,
    pub return_urls: ReturnUrls,
    /// The API's public address (a custom domain), when the request's own is not it.
    pub public_base_url: Option<String>,
    /// One per network accounts can be linked on through a consent page, looked up by
    /// the route's network; each is built on its app credentials at its first use.
    pub linkers: Vec<(Network, FromSecret<Box<dyn Linker>>)>,
    /// Bluesky links with an app password, not a consent page.
    pub bluesky: bluesky::BlueskyLinking,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let accounts_table = env.required("ACCOUNTS_TABLE")?;
    let posts_table = env.required("POSTS_TABLE")?;
    let token_key = env.required("TOKEN_KEY_ID")?;
    let webhook_secrets_id = env.required("WEBHOOK_SECRETS_ID")?;
    let x_client_id = env.required("X_OAUTH_CLIENT_SECRET_ID")?;
    let facebook_app_id = env.required("FACEBOOK_APP_SECRET_ID")?;
    let x_base = env.base_url("X_API_BASE_URL")?;
    let x_authorize = env.base_url("X_AUTHORIZE_URL")?;
    let graph_url = env.base_url("FACEBOOK_GRAPH_BASE_URL")?;
    let dialog_url = env.base_url("FACEBOOK_DIALOG_BASE_URL")?;
    let version = env.required("FACEBOOK_GRAPH_VERSION")?;
    let return_urls = ReturnUrls::parse(&env.optional("RETURN_URL_ALLOW_LIST").unwrap_or_default())
        .map_err(|e| format!("RETURN_URL_ALLOW_LIST: {e}"))?;
    let public_base_url = match env.optional("PUBLIC_BASE_URL") {
        Some(_) => Some(env.base_url("PUBLIC_BASE_URL")?),
        None => None,
    };
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    let bluesky = bluesky::BlueskyLinking::new(
        crosspost_networks::bluesky::BlueskyRefresher::new(http.clone()),
        &env.required("BLUESKY_SERVICES")?,
    )?;

    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    let signing = FromSecret::new(
        LazySecret::new(&sdk, webhook_secrets_id),
        Box::new(|raw| SigningSecret::parse_list(raw).map_err(|e| e.to_string())),
    );
    let x_http = http.clone();
    let x_linker = FromSecret::new(
        LazySecret::new(&sdk, x_client_id),
        Box::new(move |raw| {
            let credentials = ClientCredentials::parse(raw).map_err(|e| e.to_string())?;
            let oauth = XOAuth::new(x_http.clone(), &x_base, credentials)
                .and_then(|o| o.with_authorize_url(&x_authorize))
                .map_err(|e| e.to_string())?;
            Ok(Box::new(XLinker::new(
                oauth,
                XClient::new(x_http.clone(), x_base.clone()),
            )) as Box<dyn Linker>)
        }),
    );
    let facebook_secret_id = facebook_app_id.clone();
    let facebook_linker = FromSecret::new(
        LazySecret::new(&sdk, facebook_app_id),
        Box::new(move |raw| {
            let app = AppCredentials::parse(raw, &facebook_secret_id)?;
            Ok(Box::new(FacebookLogin::new(
                http.clone(),
                LoginSettings {
                    graph: Graph::new(graph_url.clone(), version.clone()),
                    dialog_url: dialog_url.clone(),
                    app,
                },
            )) as Box<dyn Linker>)
        }),
    );

    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let vault = TokenVault::new(
        AccountsStore::new(dynamodb.clone(), accounts_table),
        Sealer::new(crosspost_aws::aws_sdk_kms::Client::new(&sdk), token_key),
    );
    let events = env
        .optional("EVENTS_QUEUE_URL")
        .map(|url| EventQueue::new(crosspost_aws::aws_sdk_sqs::Client::new(&sdk), url));
    let app = App {
        vault,
        posts: PostsStore::new(dynamodb, posts_table),
        events,
        signing,
        return_urls,
        public_base_url,
        bluesky,
        linkers: vec![(Network::X, x_linker), (Network::Facebook, facebook_linker)],
    };
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(routes::handle(app, req).await)
    }))
    .await
}
