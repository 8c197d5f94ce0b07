//! The per-second rate limit: X-RateLimit-* on every reply, 429 RATE_LIMIT_EXCEEDED beyond it, per endpoint.

use cloro_sim::{Profile, SimConfig};

use crate::helpers::TestSim;

fn limited(rate_limit: u32, profile: Profile) -> SimConfig {
    SimConfig {
        rate_limit,
        profile,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn requests_beyond_the_rate_get_429_and_headers_count_down() {
    let t = TestSim::start(limited(3, Profile::docs())).await;
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push(t.get("/v1/credits").await);
    }
    assert!(
        replies
            .iter()
            .all(|r| r.header_u64("x-ratelimit-limit") == 3)
    );
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        refused.len() >= 4,
        "at most two one-second windows fit in this burst: {replies:?}"
    );
    for reply in &refused {
        assert_eq!(reply.code(), "RATE_LIMIT_EXCEEDED");
        assert_eq!(reply.header_u64("x-ratelimit-remaining"), 0);
    }
    let first = &replies[0];
    if first.status == 200 {
        assert!(first.header_u64("x-ratelimit-remaining") <= 2);
    }
    let stats = t.stats().await;
    assert_eq!(stats.responses_429, refused.len() as u64);
    t.stop().await;
}

#[tokio::test]
async fn each_endpoint_has_its_own_bucket() {
    let t = TestSim::start(limited(2, Profile::docs())).await;
    for _ in 0..4 {
        t.get("/v1/credits").await;
    }
    let other = t.get("/v1/countries").await;
    assert_eq!(
        other.status, 200,
        "another endpoint is not limited by /v1/credits"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_legacy_profile_shares_one_bucket_across_endpoints() {
    let t = TestSim::start(limited(3, Profile::legacy())).await;
    let mut refused_credits = 0;
    let mut refused_countries = 0;
    for _ in 0..10 {
        if t.get("/v1/credits").await.status == 429 {
            refused_credits += 1;
        }
        if t.get("/v1/countries").await.status == 429 {
            refused_countries += 1;
        }
    }
    assert!(
        refused_credits + refused_countries >= 14,
        "{refused_credits} + {refused_countries}"
    );
    assert!(refused_credits > 0 && refused_countries > 0);
    t.stop().await;
}

#[tokio::test]
async fn the_rate_limit_can_be_changed_at_runtime() {
    let t = TestSim::default().await;
    assert_eq!(
        t.get("/v1/credits").await.header_u64("x-ratelimit-limit"),
        1000
    );
    t.configure(serde_json::json!({"rate_limit": 1})).await;
    let replies = [
        t.get("/v1/states?country=US").await,
        t.get("/v1/states?country=US").await,
        t.get("/v1/states?country=US").await,
    ];
    assert!(replies.iter().any(|r| r.status == 429));
    assert!(
        replies
            .iter()
            .all(|r| r.header_u64("x-ratelimit-limit") == 1)
    );
    t.stop().await;
}
