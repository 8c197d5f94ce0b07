//! The limiter on a real three-master Redis Cluster started by the test: every script runs
//! on the node owning the account's hash slot, and two limiters (two replicas) hold the
//! account's concurrency together there exactly as on one Redis.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use limiter::{Limiter, RedisLimiter, RedisLimiterSettings, RefusedBy};

use crate::concurrency::exact_bound_rounds;
use crate::support::{ACCOUNT, again, request};

/// Three `redis-server --cluster-enabled yes` processes, joined into one cluster; killed on drop.
struct LocalCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

/// A port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl LocalCluster {
    fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("limiter-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_cluster_port()).collect();
        let nodes = ports
            .iter()
            .map(|port| {
                Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                    .arg(dir.join(format!("nodes-{port}.conf")))
                    .args(["--save", "", "--appendonly", "no", "--dir"])
                    .arg(&dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server must be installed for the cluster test")
            })
            .collect();
        let cluster = Self { nodes, ports, dir };
        for port in &cluster.ports {
            cluster.wait_for(*port, &["PING"], "PONG");
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in &cluster.ports {
            cluster.wait_for(*port, &["CLUSTER", "INFO"], "cluster_state:ok");
        }
        cluster
    }

    fn wait_for(&self, port: u16, command: &[&str], expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string()])
                .args(command)
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(expected)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {port} never answered {expected}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cluster_limiter(urls: &[String], prefix: &str) -> Arc<dyn Limiter> {
    let settings = RedisLimiterSettings::new(prefix, ACCOUNT);
    Arc::new(RedisLimiter::connect_cluster(urls, settings).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_master_cluster_holds_the_limits_exactly() {
    let cluster = tokio::task::spawn_blocking(LocalCluster::start)
        .await
        .unwrap();
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let first = cluster_limiter(&cluster.urls(), &prefix);
    let second = cluster_limiter(&cluster.urls(), &prefix);

    // Two replicas share the account's concurrency on the cluster, exactly.
    let mut r = request("team-a");
    r.account.concurrency = 5;
    let make = |i: usize| {
        let mut r = again(&r);
        r.team_id = format!("team-{}", i % 3);
        r
    };
    exact_bound_rounds(
        &[first.clone(), second.clone()],
        make,
        RefusedBy::AccountConcurrency,
    )
    .await;

    // A hard budget holds across both: 7-credit requests against 20 admit exactly two.
    let mut budgeted = request("team-b");
    budgeted.team.budget = Some(20);
    budgeted.estimate = 7;
    first
        .seed_charged(&budgeted.team_id, &budgeted.period, 0)
        .await
        .unwrap();
    let mut admitted = Vec::new();
    for i in 0..6 {
        let limiter = if i % 2 == 0 { &first } else { &second };
        let admission = limiter.admit(&again(&budgeted)).await.unwrap();
        if let Some(lease) = admission.into_lease() {
            admitted.push(lease);
        }
    }
    assert_eq!(admitted.len(), 2);
    for lease in &admitted {
        first.settle(lease, 7).await.unwrap();
    }
    drop(cluster);
}
