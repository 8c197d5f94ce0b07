//! A Redis that answers after the gateway gave up: the admission ran anyway, and its lease
//! and hold are given back in the background, whatever the failure policy.

use super::chatgpt;
use e2e_tests::TestApp;
use std::time::{Duration, Instant};

/// A Redis of the test's own, so it can be paused without pausing the other tests'.
struct PrivateRedis {
    child: std::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(Instant::now() < deadline, "the private Redis did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    async fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query_async(&mut connection).await.unwrap()
    }

    /// Members of every lease set (team and account).
    async fn leases(&self) -> i64 {
        let mut members = 0;
        for key in self.query::<Vec<String>>(&["KEYS", "*leases"]).await {
            members += self.query::<i64>(&["ZCARD", &key]).await;
        }
        members
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_that_timed_out_but_ran_is_released_in_both_policies() {
    use cloro_gateway::config::FailurePolicy;
    for policy in [FailurePolicy::Closed, FailurePolicy::Open] {
        let redis = PrivateRedis::start().await;
        let url = redis.url.clone();
        let app = TestApp::builder()
            .settings(move |s| {
                s.redis.url = cloro_gateway::secret::Secret::new(url);
                s.redis.timeout_ms = 100;
                s.limits.redis_failure_policy = policy;
            })
            .spawn()
            .await
            .unwrap();
        app.create_team("paused").await;
        let token = app.team_token("paused").await;
        // 300,000 expired account leases: the next admission reclaims them all in its one
        // script, which takes far longer than the gateway's 100 ms command timeout. It times
        // out on the gateway's side and still runs whole in Redis, taking a lease.
        let expired = format!("{}{{cloro}}:acct:leases", app.redis_prefix);
        for chunk in 0..10 {
            redis
                .query::<()>(&[
                    "EVAL",
                    "for i = 1, 30000 do redis.call('ZADD', KEYS[1], 1, ARGV[1] .. i) end",
                    "1",
                    &expired,
                    &format!("gone-{chunk}-"),
                ])
                .await;
        }
        let response = app
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
            .await
            .unwrap();
        let expected = if policy == FailurePolicy::Closed {
            503
        } else {
            200
        };
        assert_eq!(response.status(), expected, "{policy:?}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.leases().await > 0 {
            assert!(
                Instant::now() < deadline,
                "{policy:?}: the late admission kept its lease"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        app.shutdown().await.unwrap();
    }
}
