//! A bounded soak: many posts to three networks (the fake X and Facebook, and the
//! real Bluesky PDS of the local stack, behind a fault proxy) while a fifth of the
//! networks' answers are faults of every kind, including requests applied and then
//! failed. One post in eight repeats an earlier post's text to the same account, as a
//! person posting the same greeting twice does: half of them once the first has
//! ended, half at once while it is in flight. Every delivery must end; none may be
//! lost; no post may appear twice on a network; every PUBLISHED part must be a post
//! its own delivery's request made, recorded by no other delivery; deletes remove only
//! their own posts. On Bluesky the records are read back from the PDS
//! (`com.atproto.repo.listRecords`), and a part is its delivery's when it sits at the
//! record key that delivery's part derives. `make test` runs it small; `make soak` runs
//! 500 posts (SOAK_POSTS sets the count).
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT};
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{AccountStatus, DeliveryStatus, LinkedAccount, Network, PostId, Secret};
use crosspost_fakes::{Fault, FaultProxy, RandomFaults};
use crosspost_networks::bluesky::{record_key, POST_COLLECTION};
use crosspost_tests::{accepted, link_bluesky_via, list_bluesky_posts, post};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// X accounts, Facebook Pages and Bluesky accounts the posts are spread over.
const ACCOUNTS: usize = 8;

/// Whether post `i` repeats the text of post `i - ACCOUNTS` (the same accounts, one
/// round of posts earlier): two of the eight accounts, every other round, so one post
/// in eight is a repeat and every repeated text is an original's.
fn is_repeat(i: usize) -> bool {
    [3, 6].contains(&(i % ACCOUNTS)) && (i / ACCOUNTS) % 2 == 1
}

/// Whether repeat `i` is sent right after its original, both in flight (the other
/// repeats are sent once their original has ended).
fn repeated_in_flight(i: usize) -> bool {
    i % ACCOUNTS == 6
}

async fn link_page(sb: &Sandbox, page_id: &str) {
    let token = format!("fb-page-{page_id}-token");
    sb.facebook.add_page(page_id, &token);
    let account = LinkedAccount {
        user_id: DEMO_USER.into(),
        network: Network::Facebook,
        account_id: page_id.into(),
        display_name: format!("Page {page_id}"),
        status: AccountStatus::Active,
        access_token: Secret::new(token),
        ..sb.accounts
            .get(DEMO_USER, Network::Facebook, DEMO_FACEBOOK_PAGE)
            .await
            .unwrap()
            .unwrap()
    };
    sb.accounts
        .put(&account, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
}

fn faults(seed: u64) -> Option<RandomFaults> {
    Some(RandomFaults {
        probability: 0.2,
        faults: vec![
            Fault::ServerError(503),
            Fault::RateLimitedFor(Duration::from_secs(2)),
            Fault::Slow(Duration::from_millis(800)),
            Fault::ResetConnection,
            Fault::AcceptThenHang,
            Fault::AppliedThenServerError(503),
            Fault::AppliedThenReset,
        ],
        method: None,
        path_contains: None,
        seed,
    })
}

/// The networks every post goes to.
const NETWORKS: usize = 3;

/// Every record of the Bluesky accounts `dids` on the PDS: at:// URI → text.
async fn bluesky_records(pds: &str, dids: &[String]) -> HashMap<String, String> {
    let mut records = HashMap::new();
    for did in dids {
        for r in list_bluesky_posts(pds, did).await {
            records.insert(
                r["uri"].as_str().unwrap().to_owned(),
                r["value"]["text"].as_str().unwrap_or_default().to_owned(),
            );
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delivery_ends_none_is_lost_and_none_is_doubled_under_faults() {
    let posts: usize = std::env::var("SOAK_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut options = SandboxOptions::from_env();
    options.bluesky = true;
    let sb = Sandbox::start(options)
        .await
        .expect("the local stack starts with the PDS (run `make tools` to install it)");
    let pds = sb.stack.pds().expect("the PDS runs").clone();
    // Bluesky accounts on the real PDS, reached through a proxy that injects faults.
    let proxy = FaultProxy::start(pds.url()).await.unwrap();
    let mut bluesky = Vec::new();
    // Posts spread over several accounts, as many users' posts would be: a rate limit
    // holds one account back, not the whole soak.
    let mut x_accounts = vec![DEMO_X_ACCOUNT.to_owned()];
    let mut pages = vec![DEMO_FACEBOOK_PAGE.to_owned()];
    for i in 1..ACCOUNTS {
        let x = format!("30{i:02}");
        sb.link_x_account(DEMO_USER, &x).await.unwrap();
        x_accounts.push(x);
        let page = format!("7000{i:02}");
        link_page(&sb, &page).await;
        pages.push(page);
    }
    for i in 0..ACCOUNTS {
        let account = pds.create_account(&format!("soak{i}")).await.unwrap();
        link_bluesky_via(&sb, DEMO_USER, proxy.url(), &account).await;
        bluesky.push(account.did);
    }
    sb.x.inject_randomly(faults(17));
    sb.facebook.inject_randomly(faults(29));
    proxy.inject_randomly(faults(41));
    let started = Instant::now();
    let texts: Vec<String> = (0..posts)
        .map(|i| {
            let original = if is_repeat(i) { i - ACCOUNTS } else { i };
            format!("浸泡测试第{original}条：在故障中也只发一次。 #soak{original}")
        })
        .collect();
    let send = async |i: usize| {
        let mut body = post(&texts[i]);
        body["targets"] = json!([
            {"network": "x", "account_id": x_accounts[i % ACCOUNTS]},
            {"network": "facebook", "account_id": pages[i % ACCOUNTS]},
            {"network": "bluesky", "account_id": bluesky[i % ACCOUNTS]}
        ]);
        accepted(&sb, &body).await
    };
    let mut sent: Vec<Option<PostId>> = vec![None; posts];
    for i in 0..posts {
        if is_repeat(i) && repeated_in_flight(i) {
            continue; // sent right after its original
        }
        if is_repeat(i) {
            // The person posts the same greeting again once the first one is out (as
            // on Moments: later, but within the networks' duplicate window).
            let original = sent[i - ACCOUNTS].clone().unwrap();
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                let ds = sb.posts.deliveries(&original).await.unwrap();
                if ds.iter().all(|d| d.status.is_terminal()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        sent[i] = Some(send(i).await);
        let repeat = i + ACCOUNTS;
        if repeat < posts && is_repeat(repeat) && repeated_in_flight(repeat) {
            // The same greeting sent twice at once: both in flight, with lost answers
            // among the faults, yet neither may record the other's post.
            sent[repeat] = Some(send(repeat).await);
        }
    }
    let ids: Vec<PostId> = sent.into_iter().map(Option::unwrap).collect();
    // Generous: a delivery may meet several faults, each costing a retry of 1-3 s.
    let deadline = Instant::now() + Duration::from_secs(120 + 2 * posts as u64);
    // Only posts with a delivery still going are read again.
    let mut settled: HashMap<PostId, Vec<crosspost_aws::DeliveryRecord>> = HashMap::new();
    loop {
        for id in &ids {
            if settled.contains_key(id) {
                continue;
            }
            let ds = sb.posts.deliveries(id).await.unwrap();
            if ds.len() == NETWORKS && ds.iter().all(|d| d.status.is_terminal()) {
                settled.insert(id.clone(), ds);
            }
        }
        if settled.len() == ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let mut deliveries = Vec::new();
    for id in &ids {
        match settled.remove(id) {
            Some(ds) => deliveries.extend(ds),
            None => deliveries.extend(sb.posts.deliveries(id).await.unwrap()),
        }
    }
    sb.x.inject_randomly(None);
    sb.facebook.inject_randomly(None);
    proxy.inject_randomly(None);

    let terminal = deliveries.iter().filter(|d| d.status.is_terminal()).count();
    let published = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Published)
        .count();
    // Lost: not ended, or said PUBLISHED without the post existing on the network.
    let tweets: HashMap<String, usize> = sb.x.tweets().iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t.text.clone()).or_default() += 1;
        m
    });
    let tweet_ids: Vec<String> = sb.x.tweets().into_iter().map(|t| t.id).collect();
    let page_ids: Vec<String> = sb.facebook.posts().into_iter().map(|p| p.id).collect();
    let records = bluesky_records(pds.url(), &bluesky).await;
    let lost = deliveries
        .iter()
        .filter(|d| {
            !d.status.is_terminal()
                || (d.status == DeliveryStatus::Published
                    && d.parts.iter().any(|p| {
                        !tweet_ids.contains(&p.remote_id)
                            && !page_ids.contains(&p.remote_id)
                            && !records.contains_key(&p.remote_id)
                    }))
        })
        .count();
    let page_messages: HashMap<String, usize> =
        sb.facebook.posts().iter().fold(HashMap::new(), |mut m, p| {
            *m.entry(p.message.clone().unwrap_or_default()).or_default() += 1;
            m
        });
    // A text may stand once per source post that has it.
    let allowed: HashMap<String, usize> = texts.iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t.clone()).or_default() += 1;
        m
    });
    let stand = |text: &str| -> usize {
        allowed
            .iter()
            .find(|(t, _)| text.contains(t.trim()))
            .map_or(1, |(_, a)| *a)
    };
    let copies_over = |counts: &HashMap<String, usize>| -> usize {
        counts
            .iter()
            .map(|(text, n)| n.saturating_sub(stand(text)))
            .sum()
    };
    let record_texts: HashMap<String, usize> = records.values().fold(HashMap::new(), |mut m, t| {
        *m.entry(t.clone()).or_default() += 1;
        m
    });
    let duplicates =
        copies_over(&tweets) + copies_over(&page_messages) + copies_over(&record_texts);
    let repeats = texts.len() - allowed.len();
    // Misattributed: a PUBLISHED part whose remote post another delivery's request
    // made (each fake records the creating request's idempotency key; a Bluesky record
    // is its part's when it is at the record key that part derives, in the delivery's
    // account), or a remote id two deliveries recorded.
    let x_made_by: HashMap<String, Option<String>> =
        sb.x.tweets()
            .into_iter()
            .map(|t| (t.id, t.created_by))
            .collect();
    let page_made_by: HashMap<String, Option<String>> = sb
        .facebook
        .posts()
        .into_iter()
        .map(|p| (p.id, p.created_by))
        .collect();
    let mut recorded: HashMap<(Network, String), usize> = HashMap::new();
    let mut misattributed = 0;
    for d in deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Published)
    {
        for part in &d.parts {
            *recorded
                .entry((d.network, part.remote_id.clone()))
                .or_default() += 1;
            // The request that made the post named this delivery's part.
            let key = format!("{}.{}", d.post_id, part.index);
            let own = match d.network {
                Network::X => x_made_by
                    .get(&part.remote_id)
                    .is_some_and(|by| by.as_deref() == Some(key.as_str())),
                Network::Facebook => page_made_by
                    .get(&part.remote_id)
                    .is_some_and(|by| by.as_deref() == Some(key.as_str())),
                Network::Bluesky => {
                    let (rkey, _) = record_key(d.post_id.as_str(), part.index as usize).unwrap();
                    part.remote_id == format!("at://{}/{POST_COLLECTION}/{rkey}", d.account_id)
                        && records.contains_key(&part.remote_id)
                }
            };
            if !own {
                println!(
                    "soak: misattributed: {} {} part {} -> {}",
                    d.post_id, d.network, part.index, part.remote_id
                );
                misattributed += 1;
            }
        }
    }
    misattributed += recorded.values().filter(|n| **n > 1).count();
    let refused_as_duplicates = deliveries
        .iter()
        .filter(|d| {
            d.last_error
                .as_ref()
                .is_some_and(|e| e.kind == "duplicate_content")
        })
        .count();
    let faulty = |status: u16| status == 0 || status == 429 || status >= 500;
    let faulted = [
        sb.x.requests().iter().filter(|r| faulty(r.status)).count(),
        sb.facebook
            .requests()
            .iter()
            .filter(|r| faulty(r.status))
            .count(),
        proxy.requests().iter().filter(|r| faulty(r.status)).count(),
    ];
    let bluesky_published = deliveries
        .iter()
        .filter(|d| d.network == Network::Bluesky && d.status == DeliveryStatus::Published)
        .count();
    println!(
        "soak: {posts} posts ({repeats} repeating an earlier text), {} deliveries in {:.1}s: {terminal} terminal ({published} published, {refused_as_duplicates} refused as duplicates), {lost} lost, {duplicates} duplicate remote posts, {misattributed} misattributed remote posts; {bluesky_published} of {posts} Bluesky deliveries published, {} Bluesky records; answers that were 5xx, 429 or none: X {}, Facebook {}, Bluesky {}",
        deliveries.len(),
        started.elapsed().as_secs_f64(),
        records.len(),
        faulted[0],
        faulted[1],
        faulted[2]
    );
    for d in deliveries
        .iter()
        .filter(|d| d.status != DeliveryStatus::Published)
    {
        println!(
            "soak: not published: {} {} {} {:?}",
            d.post_id, d.network, d.status, d.last_error
        );
    }
    for (text, n) in tweets
        .iter()
        .chain(page_messages.iter())
        .chain(record_texts.iter())
        .filter(|(text, n)| **n > stand(text))
    {
        println!("soak: {n} copies of {text:?}");
        // What the fakes saw of that text, in order, and what its deliveries say.
        for (i, r) in sb.x.requests().iter().enumerate() {
            if r.body.contains(text.as_str()) {
                println!(
                    "soak:   X request {i}: {} {} -> {}",
                    r.method, r.path, r.status
                );
            }
        }
        for (i, r) in sb.facebook.requests().iter().enumerate() {
            let params = crosspost_fakes::FakeFacebook::parameters_of(r);
            if params.iter().any(|(_, v)| v == text) {
                println!(
                    "soak:   Facebook request {i}: {} {} -> {}",
                    r.method, r.path, r.status
                );
            }
        }
        for d in &deliveries {
            let post = sb.posts.get_post(&d.post_id).await.unwrap();
            if post.is_some_and(|p| text.contains(p.text.trim())) {
                println!("soak:   delivery {d:?}");
            }
        }
    }
    assert_eq!(deliveries.len(), posts * NETWORKS);
    assert_eq!(terminal, deliveries.len(), "every delivery ends");
    assert_eq!(lost, 0, "no delivery is lost");
    assert_eq!(duplicates, 0, "no post appears twice on a network");
    assert_eq!(misattributed, 0, "every part is its own delivery's post");
    // Only a repeated text may be refused as a duplicate: the repeat, or, when both
    // were in flight at once, whichever of the two went second. Each text is on each
    // network once.
    let position =
        |d: &crosspost_aws::DeliveryRecord| ids.iter().position(|id| *id == d.post_id).unwrap();
    for d in deliveries
        .iter()
        .filter(|d| d.status != DeliveryStatus::Published)
    {
        let i = position(d);
        let in_flight_original =
            i + ACCOUNTS < posts && is_repeat(i + ACCOUNTS) && repeated_in_flight(i + ACCOUNTS);
        assert!(
            is_repeat(i) || in_flight_original,
            "only repeats may fail: {d:?}"
        );
        assert_eq!(
            d.last_error.as_ref().unwrap().kind,
            "duplicate_content",
            "{d:?}"
        );
        let twin = if is_repeat(i) {
            i - ACCOUNTS
        } else {
            i + ACCOUNTS
        };
        assert!(
            deliveries.iter().any(|o| position(o) == twin
                && o.network == d.network
                && o.status == DeliveryStatus::Published),
            "a refused duplicate's twin is published: {d:?}"
        );
    }

    // Deletes remove only their own posts: delete the posts whose texts were repeated
    // (the repeats may have been refused, or published where the network allows it).
    let to_delete: Vec<PostId> = (0..posts)
        .filter(|i| i + ACCOUNTS < posts && is_repeat(i + ACCOUNTS))
        .map(|i| ids[i].clone())
        .collect();
    let own: std::collections::HashSet<String> = deliveries
        .iter()
        .filter(|d| to_delete.contains(&d.post_id))
        .flat_map(|d| d.parts.iter().map(|p| p.remote_id.clone()))
        .collect();
    let before: std::collections::HashSet<String> = tweet_ids
        .iter()
        .chain(page_ids.iter())
        .chain(records.keys())
        .cloned()
        .collect();
    for id in &to_delete {
        let a = sb
            .call("DELETE", &format!("/v1/posts/{id}"), None)
            .await
            .unwrap();
        assert_eq!(a.status, 202, "{}", a.body);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = true;
        for id in &to_delete {
            let ds = sb.posts.deliveries(id).await.unwrap();
            done &= ds.iter().all(|d| d.status != DeliveryStatus::Deleting);
        }
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after: std::collections::HashSet<String> =
        sb.x.tweets()
            .into_iter()
            .map(|t| t.id)
            .chain(sb.facebook.posts().into_iter().map(|p| p.id))
            .chain(bluesky_records(pds.url(), &bluesky).await.into_keys())
            .collect();
    let removed: std::collections::HashSet<String> = before.difference(&after).cloned().collect();
    println!(
        "soak: deleted {} posts: {} remote posts removed, {} of them the deleted deliveries' own",
        to_delete.len(),
        removed.len(),
        removed.intersection(&own).count()
    );
    assert_eq!(
        removed, own,
        "deletes removed exactly the deleted deliveries' posts"
    );
    sb.stop().await;
}
