//! A whole Crosspost on this machine: the local AWS stack (DynamoDB Local, moto, the
//! real function binaries, the local HTTP API and SQS pollers) wired to fake X and
//! Facebook servers, with a demo user whose accounts are linked on both.

use crate::client::{Answer, SignedClient};
use crate::link::{self, Returned};
use anyhow::{bail, Context, Result};
use crosspost_aws::{AccountsStore, DeliveryRecord, PostsStore, Sealer, TokenVault};
use crosspost_core::signing::SigningSecret;
use crosspost_core::{AccountStatus, LinkedAccount, Network, PostId, Secret};
use crosspost_fakes::{EventsReceiver, FakeFacebook, FakeX, RecordedRequest};
use crosspost_local::{LocalStack, PdsAccount, StackOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// The Graph API version the sandbox's fake Facebook serves and the functions call.
pub const GRAPH_VERSION: &str = "v26.0";
/// The sandbox's X OAuth client (the fake X knows it).
pub const X_CLIENT_ID: &str = "sandbox-x-client";
pub const X_CLIENT_SECRET: &str = "sandbox-x-client-secret";
/// The sandbox's Facebook app (the fake Facebook knows it).
pub const FACEBOOK_APP_ID: &str = "100200300400500";
pub const FACEBOOK_APP_SECRET: &str = "sandbox-facebook-app-secret";
/// The source-app user whose accounts the sandbox links.
pub const DEMO_USER: &str = "demo-user";
/// The demo user's X account (an X user id).
pub const DEMO_X_ACCOUNT: &str = "1849203847562019840";
/// The demo user's Bluesky account on the local PDS: `crosspost-demo.test`.
pub const DEMO_BLUESKY_NAME: &str = "crosspost-demo";
/// The demo user's Facebook Page.
pub const DEMO_FACEBOOK_PAGE: &str = "104857600123456";
/// The demo user's own Facebook user id (who manages the Page).
pub const DEMO_FACEBOOK_USER: &str = "10000123456789";
/// Where the sandbox's links send the browser back to (on its return-URL allow-list).
pub const RETURN_URL: &str = "http://localhost/crosspost/linked";

pub struct SandboxOptions {
    pub repo_root: PathBuf,
    /// Copy the functions' logs to stderr as they run.
    pub echo_logs: bool,
    /// Template parameters, over the sandbox's own (fast retries, the fakes' URLs).
    pub parameter_overrides: BTreeMap<String, String>,
    /// Extra function environment, over the sandbox's own.
    pub env_overrides: BTreeMap<String, String>,
    /// Template changes that compress time for a test (see `StackOptions`).
    pub template_patches: Vec<(String, String)>,
    /// Count the functions' AWS calls (see `LocalStack::aws_calls`).
    pub count_aws_calls: bool,
    /// Run Bluesky's reference server (the local PDS) and link the demo user's Bluesky
    /// account on it; from `CROSSPOST_LOCAL_PDS=1` by default.
    pub bluesky: bool,
}

impl SandboxOptions {
    /// The repository this binary was built from, unless `CROSSPOST_REPO` says otherwise.
    pub fn from_env() -> Self {
        let repo_root = std::env::var_os("CROSSPOST_REPO")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .components()
                    .collect()
            });
        SandboxOptions {
            repo_root,
            echo_logs: std::env::var_os("CROSSPOST_ECHO_LOGS").is_some(),
            parameter_overrides: BTreeMap::new(),
            env_overrides: BTreeMap::new(),
            template_patches: Vec::new(),
            count_aws_calls: false,
            bluesky: std::env::var("CROSSPOST_LOCAL_PDS").is_ok_and(|v| v.trim() == "1"),
        }
    }
}

pub struct Sandbox {
    pub stack: LocalStack,
    pub x: FakeX,
    pub facebook: FakeFacebook,
    /// The source app's events endpoint; events are signed with `events_secret`.
    pub events: EventsReceiver,
    pub events_secret: Secret,
    pub posts: PostsStore,
    /// AccountsTable through the stack's TokenKey, as the workers see it: writes seal
    /// the tokens, reads open them.
    pub accounts: TokenVault,
    /// Tokens the demo accounts were linked with, to check what the fakes received.
    pub x_token: Secret,
    pub facebook_token: Secret,
    /// The webhook's signing secrets: the sandbox signs with the first; the second is
    /// also accepted, as during a rotation.
    pub signing: [Secret; 2],
    /// Signs with `signing[0]`.
    pub client: SignedClient,
    /// What the fake networks received while the demo accounts were linked; their own
    /// request logs start empty after that, so tests see only what came later.
    pub link_requests: Vec<RecordedRequest>,
    /// The demo user's Bluesky account on the local PDS, when it runs
    /// ([`SandboxOptions::bluesky`]).
    pub bluesky: Option<PdsAccount>,
}

/// A fresh `whsec_` secret from the operating system's randomness.
pub fn new_signing_secret() -> Result<Secret> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(SigningSecret::encode(&key))
}

impl Sandbox {
    /// Starts the fakes and the stack, and links the demo user's accounts.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox> {
        let x = FakeX::start().await.context("starting the fake X")?;
        let facebook = FakeFacebook::start(GRAPH_VERSION)
            .await
            .context("starting the fake Facebook")?;
        let events = EventsReceiver::start()
            .await
            .context("starting the events receiver")?;
        let mut stack_options = StackOptions::from_env(&options.repo_root)?;
        stack_options.echo_logs = options.echo_logs;
        stack_options.bluesky_pds = options.bluesky;
        let params = &mut stack_options.parameter_overrides;
        if !options.bluesky {
            // No PDS: nothing answers there, and nothing outside is ever called.
            params.insert("BlueskyServices".into(), "http://localhost:9".into());
        }
        params.insert("XApiBaseUrl".into(), x.base_url());
        params.insert("FacebookGraphBaseUrl".into(), facebook.base_url());
        params.insert("FacebookGraphVersion".into(), GRAPH_VERSION.into());
        params.insert("EventsUrl".into(), events.url());
        params.insert(
            "XAuthorizeUrl".into(),
            format!("{}/i/oauth2/authorize", x.base_url()),
        );
        params.insert("FacebookDialogBaseUrl".into(), facebook.base_url());
        params.insert(
            "ReturnUrlAllowList".into(),
            "http://localhost/crosspost".into(),
        );
        params.insert("LogLevel".into(), "debug".into());
        // Retries a second or two apart, so failures resolve while a test waits.
        params.insert("RetryBaseSeconds".into(), "1".into());
        params.insert("RetryCapSeconds".into(), "2".into());
        params.extend(options.parameter_overrides);
        let env = &mut stack_options.env_overrides;
        // The local stack's own media server is on loopback.
        env.insert("MEDIA_HOSTS".into(), "allow-local".into());
        // A post the fake never answers is UNCERTAIN after 3 s, not 20.
        env.insert("HTTP_TIMEOUT_MS".into(), "3000".into());
        env.extend(options.env_overrides);
        stack_options.template_patches = options.template_patches;
        stack_options.count_aws_calls = options.count_aws_calls;
        let signing = [new_signing_secret()?, new_signing_secret()?];
        let events_secret = new_signing_secret()?;
        stack_options.secret_values.insert(
            "WebhookSigningSecret".into(),
            format!("{} {}", signing[0].expose(), signing[1].expose()),
        );
        stack_options.secret_values.insert(
            "EventsSigningSecret".into(),
            events_secret.expose().to_owned(),
        );
        // The fake Facebook checks every call's appsecret_proof against this app.
        facebook.set_app_id(FACEBOOK_APP_ID);
        facebook.set_app_secret(FACEBOOK_APP_SECRET);
        stack_options.secret_values.insert(
            "FacebookApp".into(),
            serde_json::json!({"app_id": FACEBOOK_APP_ID, "app_secret": FACEBOOK_APP_SECRET})
                .to_string(),
        );
        // The fake X's token endpoint accepts this client, which publish-x reads.
        x.set_client(X_CLIENT_ID, X_CLIENT_SECRET);
        stack_options.secret_values.insert(
            "XOAuthClient".into(),
            serde_json::json!({"client_id": X_CLIENT_ID, "client_secret": X_CLIENT_SECRET})
                .to_string(),
        );
        let stack = LocalStack::start(stack_options).await?;
        let api_url = stack.api_url().to_owned();
        // The callback URLs registered with the networks' apps, as on their consoles.
        x.register_redirect_uri(&format!("{api_url}/v1/oauth/x/callback"));
        facebook.register_redirect_uri(&format!("{api_url}/v1/oauth/facebook/callback"));

        let sdk = stack.sdk_config();
        let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
        let table = |id: &str| -> Result<String> {
            Ok(stack
                .table_name(id)
                .with_context(|| format!("template.yaml has no {id}"))?
                .to_owned())
        };
        let posts = PostsStore::new(dynamodb.clone(), table("PostsTable")?);
        let token_key = stack
            .kms_key_id("TokenKey")
            .context("template.yaml has no TokenKey")?
            .to_owned();
        let accounts = TokenVault::new(
            AccountsStore::new(dynamodb, table("AccountsTable")?),
            Sealer::new(crosspost_aws::aws_sdk_kms::Client::new(&sdk), token_key),
        );
        let mut sandbox = Sandbox {
            stack,
            x,
            facebook,
            events,
            events_secret,
            posts,
            accounts,
            x_token: Secret::new(String::new()),
            facebook_token: Secret::new(String::new()),
            client: SignedClient::new(&api_url, &signing[0])?,
            signing,
            link_requests: Vec::new(),
            bluesky: None,
        };
        sandbox.link_demo_accounts().await?;
        if let Some(pds) = sandbox.stack.pds().cloned() {
            let account = pds.create_account(DEMO_BLUESKY_NAME).await?;
            sandbox.link_bluesky(DEMO_USER, &account, pds.url()).await?;
            sandbox.bluesky = Some(account);
        }
        Ok(sandbox)
    }

    /// Links the demo user's X account and Facebook Page through the real flow: the
    /// demo people are signed in at the fake networks, `POST /v1/connect` gives the
    /// consent pages, and the browser's redirects end at the callback, which stores the
    /// tokens the networks gave. Those tokens are kept to check what the fakes receive.
    async fn link_demo_accounts(&mut self) -> Result<()> {
        self.x.sign_in(DEMO_X_ACCOUNT, "crosspost_demo");
        let x = self.link_by_consent(Network::X, DEMO_USER).await?;
        if !x.linked() || x.account_ids != [DEMO_X_ACCOUNT] {
            bail!("linking the demo X account ended at {}", x.url);
        }
        self.facebook.grant_page(
            DEMO_FACEBOOK_USER,
            DEMO_FACEBOOK_PAGE,
            "Crosspost Demo Page",
            &["CREATE_CONTENT", "MANAGE"],
        );
        self.facebook.sign_in(DEMO_FACEBOOK_USER);
        let facebook = self.link_by_consent(Network::Facebook, DEMO_USER).await?;
        if !facebook.linked() || facebook.account_ids != [DEMO_FACEBOOK_PAGE] {
            bail!("linking the demo Facebook Page ended at {}", facebook.url);
        }
        let token = |account: Option<LinkedAccount>| {
            account
                .map(|a| a.access_token)
                .context("a linked demo account is not in AccountsTable")
        };
        self.x_token = token(
            self.accounts
                .get(DEMO_USER, Network::X, DEMO_X_ACCOUNT)
                .await?,
        )?;
        self.facebook_token = token(
            self.accounts
                .get(DEMO_USER, Network::Facebook, DEMO_FACEBOOK_PAGE)
                .await?,
        )?;
        self.link_requests = self.x.requests();
        self.link_requests.extend(self.facebook.requests());
        self.x.clear_requests();
        self.facebook.clear_requests();
        Ok(())
    }

    /// Links `user_id`'s account on `network` as the source app and a browser would:
    /// whoever is signed in at the fake network approves. Returns where the browser
    /// was sent back to.
    pub async fn link_by_consent(&self, network: Network, user_id: &str) -> Result<Returned> {
        let authorize_url = link::start(&self.client, network, user_id, RETURN_URL).await?;
        link::follow(&authorize_url, RETURN_URL).await
    }

    /// Links `account` of the local PDS to `user_id` through `POST /v1/connect/bluesky`,
    /// as the source app does with what the person typed. Returns the answer's body.
    pub async fn link_bluesky(
        &self,
        user_id: &str,
        account: &PdsAccount,
        service: &str,
    ) -> Result<serde_json::Value> {
        let password = Secret::new(account.app_password.clone());
        crate::link::bluesky(
            &self.client,
            user_id,
            &account.handle,
            &password,
            Some(service),
        )
        .await
        .with_context(|| format!("linking Bluesky account {}", account.handle))
    }

    /// Links one more X account for `user_id`: the fake learns its token, AccountsTable
    /// gets the account. Returns the token.
    pub async fn link_x_account(&self, user_id: &str, account_id: &str) -> Result<Secret> {
        let token = Secret::new(format!("x-access-{}", uuid::Uuid::now_v7().simple()));
        self.x.add_account(account_id, token.expose());
        self.link(
            user_id,
            Network::X,
            account_id,
            &format!("@user_{account_id}"),
            &token,
        )
        .await?;
        Ok(token)
    }

    /// Links one more Facebook Page for `user_id`: the fake learns its Page token,
    /// AccountsTable gets the account. Returns the token.
    pub async fn link_facebook_page(&self, user_id: &str, page_id: &str) -> Result<Secret> {
        let token = Secret::new(format!("fb-page-{}", uuid::Uuid::now_v7().simple()));
        self.facebook.add_page(page_id, token.expose());
        self.link(
            user_id,
            Network::Facebook,
            page_id,
            &format!("Page {page_id}"),
            &token,
        )
        .await?;
        Ok(token)
    }

    /// Writes an ACTIVE linked account with a token that does not expire, sealed as the
    /// workers expect it.
    async fn link(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        display_name: &str,
        token: &Secret,
    ) -> Result<()> {
        let account = LinkedAccount {
            user_id: user_id.into(),
            network,
            account_id: account_id.into(),
            display_name: display_name.into(),
            status: AccountStatus::Active,
            access_token: token.clone(),
            rate_limited_until: None,
            refresh_token: None,
            access_expires_at: None,
            token_version: 0,
        };
        self.accounts
            .put(&account, OffsetDateTime::now_utc())
            .await?;
        Ok(())
    }

    /// The URL the source app posts to.
    pub fn posts_url(&self) -> String {
        format!("{}/v1/posts", self.stack.api_url())
    }

    /// A signed call to the local API, as the source app makes it.
    pub async fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer> {
        self.client.call(method, path, body).await
    }

    /// Sends a post to `POST /v1/posts`, signed.
    pub async fn submit(&self, post: &serde_json::Value) -> Result<Answer> {
        self.call("POST", "/v1/posts", Some(post.to_string().as_bytes()))
            .await
    }

    /// Waits until every delivery of the post has ended (or `timeout` passes) and
    /// returns them as they stand.
    pub async fn wait_until_settled(
        &self,
        post_id: &PostId,
        timeout: Duration,
    ) -> Result<Vec<DeliveryRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.posts.deliveries(post_id).await?;
            let settled =
                !deliveries.is_empty() && deliveries.iter().all(|d| d.status.is_terminal());
            if settled || tokio::time::Instant::now() >= deadline {
                if deliveries.is_empty() {
                    bail!("post {post_id} has no deliveries");
                }
                return Ok(deliveries);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every way the requests the fake networks received, and their answers, broke
    /// the networks' own API descriptions (X's OpenAPI, Meta's Graph specs), each
    /// prefixed by the fake that saw it.
    pub fn contract_violations(&self) -> Vec<String> {
        let mut violations = self.x.contract_violations();
        violations.extend(self.facebook.contract_violations());
        violations
    }

    /// Brings everything down.
    pub async fn shutdown(self) {
        self.stack.stop().await;
        self.x.shutdown();
        self.facebook.shutdown();
        self.events.shutdown();
    }

    /// Brings everything down, then fails the test if any request a fake network
    /// received, or any answer it gave, broke the network's API description: this is
    /// where every end-to-end test checks the contracts.
    ///
    /// # Panics
    ///
    /// When [`Sandbox::contract_violations`] is not empty, listing them.
    pub async fn stop(self) {
        let violations = self.contract_violations();
        self.shutdown().await;
        assert!(
            violations.is_empty(),
            "the fake networks saw {} violation(s) of their API descriptions:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}
