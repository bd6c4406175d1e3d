//! `crosspost`: the operator command.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use crosspost_cli::client::SignedClient;
use crosspost_cli::link;
use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT};
use crosspost_cli::table::{self, Row};
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{DeliveryStatus, MediaItem, Mentions, Network, Overflow, PostId, Secret};
use serde_json::json;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "crosspost",
    version,
    about = "Operate Crosspost and run it locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the API is and how to sign for it.
#[derive(Args)]
struct Endpoint {
    /// Base URL of the API (the stack's ApiUrl output, or the one `crosspost dev` prints).
    #[arg(long, env = "CROSSPOST_URL")]
    url: String,
    /// The source app's signing secret (whsec_…). Prefer the environment variable: a
    /// flag shows up in the process list.
    #[arg(long, env = "CROSSPOST_SECRET", hide_env_values = true)]
    secret: String,
}

/// What `crosspost post` sends: a whole body from a file, or one built from flags.
#[derive(Args)]
struct PostArgs {
    /// A JSON file with the whole post body (`-` for standard input); the flags
    /// below build one instead.
    #[arg(long, conflicts_with_all = ["id", "user", "text", "target", "link", "overflow", "mentions", "media", "alt"])]
    file: Option<String>,
    /// The source app's id of the post (default: a fresh one).
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    text: Option<String>,
    /// `network` or `network:account_id`, optionally followed by `=TEXT`, that
    /// target's own text (`x=short`, `bluesky:did:plc:…=…`); repeat for several
    /// (default: every linked account).
    #[arg(long)]
    target: Vec<String>,
    #[arg(long)]
    link: Option<String>,
    #[arg(long, value_parser = ["thread", "truncate", "reject"])]
    overflow: Option<String>,
    /// `plain` (default): no @name becomes a mention; `keep`: the text as written.
    #[arg(long, value_parser = ["plain", "keep"])]
    mentions: Option<String>,
    /// A photo or video URL; repeat for several, in the post's order.
    #[arg(long)]
    media: Vec<String>,
    /// Alt text of the media item at the same position (`--alt` once per `--media`,
    /// in order; `""` for none).
    #[arg(long)]
    alt: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the local stack up, send three sample posts through it to the fake
    /// networks, print the delivery table, and bring it down. Exits 0 only if every
    /// delivery was published.
    Demo {
        /// How long to wait for the deliveries, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Bring the local stack up and keep it up until Ctrl-C.
    Dev,
    /// Sign a post and send it to `POST /v1/posts`; prints the answer.
    Post {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        post: PostArgs,
    },
    /// Print a post's delivery table (`GET /v1/posts/{id}`).
    Status {
        #[command(flatten)]
        endpoint: Endpoint,
        post_id: String,
        /// Print the whole JSON answer instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Link an account. X and Facebook: prints the network's consent page to open
    /// (`POST /v1/connect/{network}`); the browser comes back to the return URL with
    /// `status=linked` or `status=error&reason=…`. Bluesky: links at once with the
    /// handle (`--identifier`) and an app password read from
    /// CROSSPOST_BLUESKY_APP_PASSWORD or standard input (`POST /v1/connect/bluesky`),
    /// and prints the linked account.
    Link {
        #[command(flatten)]
        endpoint: Endpoint,
        #[arg(value_parser = ["x", "facebook", "bluesky"])]
        network: String,
        /// The source app's user the account is linked for.
        #[arg(long)]
        user: String,
        /// Where the browser goes afterwards; must be on the stack's ReturnUrlAllowList.
        #[arg(long, default_value = crosspost_cli::sandbox::RETURN_URL)]
        return_url: String,
        /// Follow the consent page's redirects here instead of printing it (for the
        /// local stack, whose fake networks approve at once), and print the outcome.
        #[arg(long)]
        follow: bool,
        /// Bluesky: the account's handle, DID or email.
        #[arg(long)]
        identifier: Option<String>,
        /// Bluesky: the account's PDS, when not the stack's default (one of its
        /// BlueskyServices).
        #[arg(long)]
        service: Option<String>,
    },
    /// Measure every function's start-up, memory and AWS calls, the throughput and
    /// the cost per million posts on the local stack, and with --package-scratch
    /// `make package` against the per-function build (run by `make bench` on the
    /// release build, with CROSSPOST_BIN_DIR naming its folder); prints a table,
    /// writes JSON.
    Bench {
        /// Cold starts per function, interleaved (at least 1).
        #[arg(long, default_value_t = 15, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        rounds: usize,
        /// Where the figures go as JSON.
        #[arg(long, default_value = "bench.json")]
        json: String,
        /// Posts sent to every network for the throughput figures (0: none).
        #[arg(long, default_value_t = 500)]
        posts: usize,
        /// Also build the package twice from cold, `make package`'s way and the
        /// per-function way before it, in this folder (removed afterwards), and compare.
        #[arg(long)]
        package_scratch: Option<std::path::PathBuf>,
    },
    /// Print what a network would receive for the text on standard input, as JSON:
    /// its parts (the text the network gets, word joiners included), and which part
    /// carries which media.
    Preview {
        #[arg(long, value_parser = ["x", "facebook", "bluesky"])]
        network: String,
        #[arg(long, value_parser = ["thread", "truncate", "reject"], default_value = "thread")]
        overflow: String,
        /// `plain`: no @name becomes a mention; `keep`: the text as it is.
        #[arg(long, value_parser = ["plain", "keep"], default_value = "plain")]
        mentions: String,
        #[arg(long)]
        link: Option<String>,
        /// A media URL, once per item in the post's order; planned from its extension
        /// (the files are not read: `POST /v1/preview` reads them).
        #[arg(long = "media")]
        media: Vec<String>,
    },
}

/// The demo's posts: Latin text with a link, Chinese, and mixed text with emoji; to
/// Bluesky too when `bluesky`.
fn sample_posts(run: &str, bluesky: bool) -> Vec<serde_json::Value> {
    let mut targets = vec![json!({"network": "x"}), json!({"network": "facebook"})];
    if bluesky {
        targets.push(json!({"network": "bluesky"}));
    }
    let texts = [
        "Crosspost says hello: one post, every network. https://example.com/hello",
        "今天在西湖边散步，秋天的阳光很温暖。晚上和朋友一起吃了火锅，聊到很晚。",
        "Weekend hike 🥾⛰️ 山顶的风景太美了！ #crosspost",
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({
                "id": format!("demo-{run}-{}", i + 1),
                "user_id": DEMO_USER,
                "text": text,
                "targets": targets,
            })
        })
        .collect()
}

async fn demo(sandbox: &Sandbox, timeout: Duration) -> Result<bool> {
    println!(
        "linked {DEMO_USER}'s X account {DEMO_X_ACCOUNT} and Facebook Page {DEMO_FACEBOOK_PAGE} \
         through POST /v1/connect, the networks' consent pages and the OAuth callback"
    );
    if let Some(bluesky) = &sandbox.bluesky {
        println!(
            "linked {DEMO_USER}'s Bluesky account @{} ({}) on the local PDS {} through \
             POST /v1/connect/bluesky with an app password",
            bluesky.handle,
            bluesky.did,
            sandbox.stack.pds().map_or("", |p| p.url())
        );
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut post_ids = Vec::new();
    for body in sample_posts(&run, sandbox.bluesky.is_some()) {
        let answer = sandbox.submit(&body).await?;
        if answer.status != 202 {
            bail!("the webhook answered {}: {}", answer.status, answer.body);
        }
        let post_id = answer.body["post_id"]
            .as_str()
            .and_then(PostId::parse)
            .with_context(|| format!("no post_id in {}", answer.body))?;
        println!(
            "accepted post {post_id}: {}",
            body["text"].as_str().unwrap_or("")
        );
        post_ids.push(post_id);
    }
    let mut deliveries = Vec::new();
    for id in &post_ids {
        deliveries.extend(sandbox.wait_until_settled(id, timeout).await?);
    }
    let rows: Vec<Row> = deliveries.iter().map(Row::from).collect();
    println!();
    print!("{}", table::render(&rows));
    let published = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Published)
        .count();
    println!("\n{published} of {} deliveries PUBLISHED", deliveries.len());
    Ok(published == deliveries.len())
}

async fn dev(sandbox: &Sandbox) -> Result<()> {
    let body = json!({
        "id": format!("dev-{}", uuid::Uuid::now_v7().simple()),
        "user_id": DEMO_USER,
        "text": "你好，Crosspost！",
    })
    .to_string();
    let headers = sandbox.client.sign(body.as_bytes());
    let url = sandbox.stack.api_url();
    println!(
        "Local stack is up. API: {url}   (webhook: {})",
        sandbox.posts_url()
    );
    println!(
        "Fake X: {}   Fake Facebook: {}",
        sandbox.x.base_url(),
        sandbox.facebook.base_url()
    );
    if let (Some(pds), Some(account)) = (sandbox.stack.pds(), &sandbox.bluesky) {
        println!(
            "Bluesky PDS: {}   linked for {DEMO_USER}: @{} ({})",
            pds.url(),
            account.handle,
            account.did
        );
    }
    println!("\nSend a post (the signature is valid for 5 minutes):");
    let mut curl = format!(
        "curl -sS -X POST {} -H 'content-type: application/json'",
        sandbox.posts_url()
    );
    for (k, v) in &headers {
        curl.push_str(&format!(" -H '{k}: {v}'"));
    }
    println!("  {curl} -d '{body}'");
    println!("\nOr sign fresh each time:");
    println!(
        "  export CROSSPOST_URL={url} CROSSPOST_SECRET='{}'",
        sandbox.signing[0].expose()
    );
    println!("  crosspost post --user {DEMO_USER} --text '你好'");
    println!("  crosspost status <post_id>");
    println!("  crosspost link x --user someone-else      # prints the consent page to open");
    println!("  crosspost link facebook --user {DEMO_USER} --follow   # links it here and now");
    if let Some(pds) = sandbox.stack.pds() {
        println!(
            "  echo <app password> | crosspost link bluesky --user {DEMO_USER} --identifier <handle>.test   # an account of the local PDS {}",
            pds.url()
        );
    }
    println!("\nPress Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

fn read_input(path: &str) -> Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
    }
}

/// The body to send: the file's (checked to be JSON), or one built from the flags.
fn post_body(args: PostArgs) -> Result<String> {
    let PostArgs {
        file,
        id,
        user,
        text,
        target,
        link,
        overflow,
        mentions,
        media,
        alt,
    } = args;
    if let Some(file) = file {
        let body = read_input(&file)?;
        serde_json::from_str::<serde_json::Value>(&body)
            .with_context(|| format!("{file} is not JSON"))?;
        return Ok(body);
    }
    let user = user.context("--user is required without --file")?;
    let mut body = json!({
        "id": id.unwrap_or_else(|| format!("cli-{}", uuid::Uuid::now_v7().simple())),
        "user_id": user,
        "text": text.unwrap_or_default(),
    });
    if !target.is_empty() {
        let targets = target
            .iter()
            .map(|t| {
                let (who, text) = match t.split_once('=') {
                    Some((w, text)) => (w, Some(text)),
                    None => (t.as_str(), None),
                };
                let (network, account) = match who.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (who, None),
                };
                network
                    .parse::<Network>()
                    .with_context(|| format!("--target {who}"))?;
                let mut v = json!({ "network": network });
                if let Some(a) = account {
                    v["account_id"] = json!(a);
                }
                if let Some(text) = text {
                    v["text"] = json!(text);
                }
                Ok(v)
            })
            .collect::<Result<Vec<_>>>()?;
        body["targets"] = json!(targets);
    }
    if let Some(link) = link {
        body["link"] = json!(link);
    }
    if let Some(o) = overflow {
        body["overflow"] = json!(o);
    }
    if let Some(m) = mentions {
        body["mentions"] = json!(m);
    }
    if alt.len() > media.len() {
        anyhow::bail!(
            "{} --alt for {} --media: give one --alt per --media, in order",
            alt.len(),
            media.len()
        );
    }
    if !media.is_empty() {
        let items: Vec<serde_json::Value> = media
            .iter()
            .enumerate()
            .map(|(i, url)| match alt.get(i).filter(|a| !a.is_empty()) {
                Some(a) => json!({"url": url, "alt": a}),
                None => json!({"url": url}),
            })
            .collect();
        body["media"] = json!(items);
    }
    Ok(body.to_string())
}

async fn with_sandbox(command: Command) -> Result<bool> {
    let mut options = SandboxOptions::from_env();
    // The demo publishes to Bluesky's own server software too.
    options.bluesky |= matches!(command, Command::Demo { .. });
    let sandbox = Sandbox::start(options).await?;
    // Whatever happens next, including Ctrl-C, the stack comes down before we exit.
    let outcome = tokio::select! {
        r = async {
            match command {
                Command::Demo { timeout } => demo(&sandbox, Duration::from_secs(timeout)).await,
                _ => dev(&sandbox).await.map(|()| true),
            }
        } => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let violations = sandbox.contract_violations();
    sandbox.shutdown().await;
    if !violations.is_empty() {
        anyhow::bail!(
            "the fake networks saw their API descriptions broken:\n{}",
            violations.join("\n")
        );
    }
    outcome
}

async fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Bench {
            rounds,
            json,
            posts,
            package_scratch,
        } => {
            let options = SandboxOptions::from_env();
            let bin_dir = std::env::var_os("CROSSPOST_BIN_DIR")
                .map(std::path::PathBuf::from)
                .context("CROSSPOST_BIN_DIR must name the release build's folder")?;
            // Both are checked before measuring and building (a quarter of an hour), not after.
            crosspost_cli::bench::check_json_path(std::path::Path::new(&json))?;
            if let Some(scratch) = &package_scratch {
                crosspost_cli::bench::package::check_scratch(scratch)?;
            }
            let report = crosspost_cli::bench::run(
                &options.repo_root,
                rounds,
                &crosspost_cli::bench::examples_dir(&bin_dir),
                posts,
                package_scratch.as_deref(),
            )
            .await?;
            print!("{}", crosspost_cli::bench::render(&report));
            std::fs::write(&json, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {json}"))?;
            println!("\nfigures written to {json}");
            if let Some(failed) = &report.package_failure {
                anyhow::bail!("the package timing failed: {failed}");
            }
            Ok(true)
        }
        Command::Post { endpoint, post } => {
            let body = post_body(post)?;
            let client = SignedClient::new(&endpoint.url, &Secret::new(endpoint.secret))?;
            let answer = client
                .call("POST", "/v1/posts", Some(body.as_bytes()))
                .await?;
            println!(
                "{} {}",
                answer.status,
                serde_json::to_string_pretty(&answer.body)?
            );
            Ok((200..300).contains(&answer.status))
        }
        Command::Status {
            endpoint,
            post_id,
            json,
        } => {
            let client = SignedClient::new(&endpoint.url, &Secret::new(endpoint.secret))?;
            let answer = client
                .call("GET", &format!("/v1/posts/{post_id}"), None)
                .await?;
            if answer.status != 200 || json {
                println!(
                    "{} {}",
                    answer.status,
                    serde_json::to_string_pretty(&answer.body)?
                );
            } else {
                print!("{}", table::render(&table::rows_of_status(&answer.body)));
            }
            Ok(answer.status == 200)
        }
        Command::Link {
            endpoint,
            network,
            user,
            return_url,
            follow,
            identifier,
            service,
        } => {
            let network: Network = network.parse()?;
            let client = SignedClient::new(&endpoint.url, &Secret::new(endpoint.secret))?;
            if network == Network::Bluesky {
                let identifier = identifier.context(
                    "--identifier (the Bluesky handle, DID or email) is required for bluesky",
                )?;
                let password = link::app_password(
                    std::env::var(link::APP_PASSWORD_ENV).ok(),
                    std::io::stdin().lock(),
                )?;
                let linked =
                    link::bluesky(&client, &user, &identifier, &password, service.as_deref())
                        .await?;
                println!("{}", serde_json::to_string_pretty(&linked)?);
                return Ok(true);
            }
            if identifier.is_some() || service.is_some() {
                bail!("--identifier and --service are for bluesky only");
            }
            let authorize_url = link::start(&client, network, &user, &return_url).await?;
            if !follow {
                println!("{authorize_url}");
                return Ok(true);
            }
            let back = link::follow(&authorize_url, &return_url).await?;
            println!("{}", back.url);
            Ok(back.linked())
        }
        Command::Preview {
            network,
            overflow,
            mentions,
            link,
            media,
        } => {
            let network: Network = network.parse()?;
            let overflow: Overflow = serde_json::from_value(json!(overflow))?;
            let mentions: Mentions = serde_json::from_value(json!(mentions))?;
            let media: Vec<MediaItem> = media
                .into_iter()
                .map(|url| MediaItem {
                    url,
                    alt: None,
                    content_type: None,
                })
                .collect();
            let text = read_input("-")?;
            let preview = crosspost_core::preview::preview(
                network,
                &text,
                link.as_deref(),
                !media.is_empty(),
                overflow,
                mentions,
            )
            .with_media(crosspost_core::media::plan(network, &media, &[]));
            println!("{}", serde_json::to_string(&preview)?);
            Ok(preview.error.is_none())
        }
        command => with_sandbox(command).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("crosspost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post_args(flags: &[&str]) -> Result<PostArgs, clap::Error> {
        let mut argv = vec!["crosspost", "post", "--url", "http://api", "--secret", "s"];
        argv.extend_from_slice(flags);
        match Cli::try_parse_from(argv)?.command {
            Command::Post { post, .. } => Ok(post),
            _ => unreachable!("post parses as Command::Post"),
        }
    }

    #[test]
    fn the_bench_needs_at_least_one_round() {
        let rounds = |n: &str| match Cli::try_parse_from(["crosspost", "bench", "--rounds", n])
            .map(|c| c.command)
        {
            Ok(Command::Bench { rounds, .. }) => Ok(rounds),
            Ok(_) => unreachable!("bench parses as Command::Bench"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(rounds("1"), Ok(1));
        let zero = rounds("0").unwrap_err();
        assert!(zero.contains("--rounds"), "{zero}");
        assert!(rounds("abc").is_err());
    }

    #[test]
    fn flags_build_the_post_body() {
        let args = post_args(&[
            "--id",
            "p-1",
            "--user",
            "u-1",
            "--text",
            "你好",
            "--target",
            "x",
            "--target",
            "facebook:104857600123456",
            "--link",
            "https://example.com",
            "--overflow",
            "truncate",
        ])
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&post_body(args).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "p-1",
                "user_id": "u-1",
                "text": "你好",
                "targets": [
                    {"network": "x"},
                    {"network": "facebook", "account_id": "104857600123456"},
                ],
                "link": "https://example.com",
                "overflow": "truncate",
            })
        );
    }

    #[test]
    fn target_texts_mentions_and_media_with_alt_texts() {
        let args = post_args(&[
            "--id",
            "p-2",
            "--user",
            "u-1",
            "--text",
            "长一点的正文 @小明",
            "--target",
            "x=短的 @小明",
            "--target",
            "bluesky:did:plc:abc123",
            "--mentions",
            "keep",
            "--media",
            "https://media.example/1.jpg",
            "--alt",
            "湖面",
            "--media",
            "https://media.example/2.jpg",
        ])
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&post_body(args).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "p-2",
                "user_id": "u-1",
                "text": "长一点的正文 @小明",
                "targets": [
                    {"network": "x", "text": "短的 @小明"},
                    {"network": "bluesky", "account_id": "did:plc:abc123"},
                ],
                "mentions": "keep",
                "media": [
                    {"url": "https://media.example/1.jpg", "alt": "湖面"},
                    {"url": "https://media.example/2.jpg"},
                ],
            })
        );
        let more_alts = post_args(&["--user", "u", "--media", "a", "--alt", "1", "--alt", "2"]);
        let err = post_body(more_alts.unwrap()).unwrap_err();
        assert!(err.to_string().contains("one --alt per --media"), "{err}");
        assert!(post_args(&["--user", "u", "--mentions", "all"]).is_err());
    }

    #[test]
    fn the_bluesky_app_password_comes_from_the_environment_or_stdin_never_a_flag() {
        let from_env = link::app_password(Some(" abcd-efgh-ijkl-mnop\n".into()), &b""[..]);
        assert_eq!(from_env.unwrap().expose(), "abcd-efgh-ijkl-mnop");
        let from_stdin = link::app_password(None, &b"wxyz-1234-5678-90ab\nmore"[..]);
        assert_eq!(from_stdin.unwrap().expose(), "wxyz-1234-5678-90ab");
        let none = link::app_password(None, &b"\n"[..]).unwrap_err();
        assert!(none.to_string().contains(link::APP_PASSWORD_ENV), "{none}");
        // There is no flag for it.
        let flag = Cli::try_parse_from([
            "crosspost",
            "link",
            "bluesky",
            "--url",
            "http://api",
            "--secret",
            "s",
            "--user",
            "u",
            "--identifier",
            "alice.test",
            "--app-password",
            "abcd-efgh-ijkl-mnop",
        ]);
        assert!(flag.is_err());
    }

    #[test]
    fn a_body_needs_a_user_and_known_networks() {
        let err = post_body(post_args(&["--text", "hi"]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("--user"), "{err}");
        let args = post_args(&["--user", "u", "--target", "myspace"]).unwrap();
        assert!(post_body(args).is_err());
    }

    #[test]
    fn a_file_excludes_the_body_flags() {
        let err = post_args(&["--file", "post.json", "--text", "hi"])
            .err()
            .expect("--file with --text is refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(post_args(&["--file", "post.json"]).is_ok());
    }
}
