//! docker-compose.yml as written: its `migrate`, `gateway` and `bootstrap` services are run
//! with the real binary and exactly the environment and commands the file gives them, only
//! the service host names (`postgres`, `redis`, `cloro-sim`) pointed at the local services
//! (and the gateway's port and database made private to this test). A fresh `docker compose
//! up` therefore migrates, serves, creates the `demo` team and mints working tokens, and a
//! second `up` does the same without failing. No Docker engine is needed.

use clap::Parser;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cloro-gateway");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const LOCAL_POSTGRES: &str = "127.0.0.1:5432";
const LOCAL_REDIS: &str = "127.0.0.1:6379";

fn read_yaml(relative: &str) -> Value {
    let path = Path::new(REPO).join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|err| panic!("parsing {relative}: {err}"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose
        .get("services")
        .and_then(|services| services.get(name))
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

/// Compose's interpolation, for what this file may use: `$$` is a literal `$`; any other `$`
/// (a variable of the shell running compose) would make the stack depend on the machine.
fn interpolate(value: &str) -> String {
    let unescaped = value.replace("$$", "\u{0}");
    assert!(
        !unescaped.contains('$'),
        "docker-compose.yml interpolates a variable in {value:?}; write $$ for a literal $"
    );
    unescaped.replace('\u{0}', "$")
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => interpolate(text),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

/// A service's `environment`, in either of compose's forms (mapping or `KEY=value` list).
fn environment(service: &Value) -> Vec<(String, String)> {
    match service.get("environment") {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let item = scalar(item);
                let (key, value) = item.split_once('=').expect("KEY=value");
                (key.to_owned(), value.to_owned())
            })
            .collect(),
        Some(other) => panic!("environment is neither a mapping nor a list: {other}"),
    }
}

/// A service's `command` or `entrypoint` in list form (the string form is not used here).
fn words(service: &Value, field: &str) -> Option<Vec<String>> {
    service.get(field).map(|value| {
        value
            .as_array()
            .unwrap_or_else(|| panic!("{field} must be a list: {value}"))
            .iter()
            .map(scalar)
            .collect()
    })
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    env.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("{name} is not set"))
}

/// Points the compose service names at the local services; every rewrite must apply once.
struct Localizer {
    sim_address: String,
    database: String,
}

impl Localizer {
    fn localize(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut rewritten = Vec::new();
        for (key, value) in env {
            let value = match key.as_str() {
                "DATABASE_URL" => {
                    let (base, _) = value.rsplit_once('/').expect("a database in the URL");
                    format!(
                        "{}/{}",
                        replace_host(base, "@postgres:5432", &format!("@{LOCAL_POSTGRES}")),
                        self.database
                    )
                }
                "REDIS_URL" => replace_host(value, "//redis:6379", &format!("//{LOCAL_REDIS}")),
                "CLORO_BASE_URL" => replace_host(
                    value,
                    "//cloro-sim:9100",
                    &format!("//{}", self.sim_address),
                ),
                _ => {
                    for host in ["postgres:", "redis:", "cloro-sim:"] {
                        assert!(
                            !value.contains(&format!("//{host}"))
                                && !value.contains(&format!("@{host}")),
                            "{key} names a compose service this test does not rewrite"
                        );
                    }
                    value.clone()
                }
            };
            rewritten.push((key.clone(), value));
        }
        rewritten
    }
}

fn replace_host(value: &str, from: &str, to: &str) -> String {
    assert_eq!(value.matches(from).count(), 1, "{from} once in {value}");
    value.replace(from, to)
}

/// The database of this test, force-dropped when the test ends, even by a panic.
struct TestDatabase {
    url: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = std::mem::take(&mut self.url);
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::migrate::MigrateDatabase;
                for _ in 0..5 {
                    if sqlx::Postgres::force_drop_database(&url).await.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                eprintln!("could not drop {url}");
            });
        });
        let _ = dropping.join();
    }
}

/// The gateway process, killed when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A command with no environment but `env` (and PATH, which finds `cloro-gateway` first).
fn command(program: &str, args: &[String], env: &[(String, String)]) -> Command {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
        );
    command
}

fn run(what: &str, mut command: Command) -> Output {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `NAME=<token>` from the bootstrap's output.
fn printed_token(stdout: &str, name: &str) -> String {
    let prefix = format!("{name}=");
    let token = stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("bootstrap printed no {name}:\n{stdout}"));
    assert_eq!(token.split('.').count(), 3, "{name} is a JWT");
    token.to_owned()
}

/// The simulator as the `cloro-sim` service describes it (its command and `CLORO_SIM_*`
/// variables, as flags), on a local port, answering at once instead of after seconds.
async fn start_simulator(compose: &Value) -> cloro_sim::RunningSim {
    let sim = service(compose, "cloro-sim");
    assert_eq!(words(sim, "entrypoint").unwrap(), ["cloro-sim"]);
    let mut args = vec!["cloro-sim".to_owned()];
    args.extend(words(sim, "command").unwrap_or_default());
    for (key, value) in environment(sim) {
        let flag = key
            .strip_prefix("CLORO_SIM_")
            .unwrap_or_else(|| panic!("{key} is not a simulator setting"));
        args.push(format!("--{}", flag.to_ascii_lowercase().replace('_', "-")));
        args.push(value);
    }
    let mut config = cloro_sim::cli::Args::try_parse_from(&args)
        .unwrap_or_else(|err| panic!("the cloro-sim service's flags: {err}"))
        .into_config();
    config.latency = "0".parse().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    cloro_sim::spawn(config, listener).await.unwrap()
}

fn condition<'a>(service: &'a Value, on: &str) -> &'a str {
    service
        .get("depends_on")
        .and_then(|deps| deps.get(on))
        .and_then(|dep| dep.get("condition"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no depends_on {on} with a condition"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_stack_migrates_serves_and_bootstraps_the_demo_team_as_written() {
    let compose = read_yaml("docker-compose.yml");
    let (migrate, gateway, bootstrap) = (
        service(&compose, "migrate"),
        service(&compose, "gateway"),
        service(&compose, "bootstrap"),
    );

    // The wiring a fresh `up` relies on.
    assert_eq!(
        condition(gateway, "migrate"),
        "service_completed_successfully"
    );
    assert_eq!(
        condition(bootstrap, "migrate"),
        "service_completed_successfully"
    );
    let dockerfile = std::fs::read_to_string(Path::new(REPO).join("deploy/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("ENTRYPOINT [\"cloro-gateway\"]"),
        "the image runs cloro-gateway, so a service's command is its arguments"
    );
    for name in ["cloro-sim", "migrate", "gateway", "bootstrap"] {
        let build = service(&compose, name).get("build").expect("built here");
        assert_eq!(build["dockerfile"], "deploy/Dockerfile", "{name}");
    }
    let env = environment(gateway);
    assert_eq!(
        environment(migrate),
        env,
        "migrate runs with the gateway's settings"
    );
    assert_eq!(
        environment(bootstrap),
        env,
        "bootstrap mints with the gateway's secret"
    );
    let secret = env_value(&env, "CLORO_GATEWAY__AUTH__SIGNING_SECRET");
    assert!(
        secret.len() >= 32 && secret.contains("INSECURE"),
        "a signing secret of at least 32 bytes, marked as a development value"
    );
    let sim_env = environment(service(&compose, "cloro-sim"));
    assert_eq!(
        env_value(&env, "CLORO_API_KEY"),
        env_value(&sim_env, "CLORO_SIM_API_KEY"),
        "the gateway calls the simulator with the key it accepts"
    );

    let sim = start_simulator(&compose).await;
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (admin_base, _) = admin_url.rsplit_once('/').unwrap();
    let database = format!("gw_compose_{}", uuid::Uuid::new_v4().simple());
    let _database = TestDatabase {
        url: format!("{admin_base}/{database}"),
    };
    let localizer = Localizer {
        sim_address: sim.addr().to_string(),
        database,
    };
    let env = localizer.localize(&env);
    let logs: PathBuf = std::env::temp_dir().join(format!("compose-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&logs).unwrap();

    // migrate, then serve, exactly as the services' commands say.
    run(
        "migrate",
        command(BIN, &words(migrate, "command").unwrap(), &env),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve_args: Vec<String> = words(gateway, "command")
        .unwrap()
        .into_iter()
        .map(|arg| {
            if arg == "0.0.0.0:8080" {
                format!("127.0.0.1:{port}")
            } else {
                arg
            }
        })
        .collect();
    assert!(
        serve_args.contains(&format!("127.0.0.1:{port}")),
        "{serve_args:?}"
    );
    let mut serve = command(BIN, &serve_args, &env);
    serve
        .stdout(std::fs::File::create(logs.join("gateway.out")).unwrap())
        .stderr(std::fs::File::create(logs.join("gateway.err")).unwrap());
    let gateway_process = Running(serve.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(ready) = http.get(format!("{base}/readyz")).send().await
            && ready.status() == 200
        {
            let body: Value = ready.json().await.unwrap();
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway did not become ready; its log is in {}",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // bootstrap, twice: a second `docker compose up` must not fail on the existing team.
    let entrypoint = words(bootstrap, "entrypoint").unwrap();
    let mut bootstrap_args = entrypoint[1..].to_vec();
    bootstrap_args.extend(words(bootstrap, "command").unwrap());
    let mut printed = Vec::new();
    for round in ["first", "second"] {
        let output = run(
            &format!("bootstrap ({round} up)"),
            command(&entrypoint[0], &bootstrap_args, &env),
        );
        printed.push(String::from_utf8(output.stdout).unwrap());
    }
    let pool = sqlx::PgPool::connect(env_value(&env, "DATABASE_URL"))
        .await
        .unwrap();
    let demo_teams: i64 = sqlx::query_scalar("SELECT count(*) FROM teams WHERE slug = 'demo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(demo_teams, 1, "one demo team after two bootstraps");
    pool.close().await;

    for stdout in &printed {
        let team = printed_token(stdout, "TEAM_TOKEN");
        let admin = printed_token(stdout, "ADMIN_TOKEN");
        let finance = printed_token(stdout, "FINANCE_TOKEN");
        assert!(stdout.contains("curl http://localhost:8080/v1/monitor/chatgpt"));

        // A real call through the gateway to the simulator with the team token.
        let call = http
            .post(format!("{base}/v1/monitor/chatgpt"))
            .bearer_auth(&team)
            .json(&serde_json::json!({"prompt": "What do you know about Acme Corp?", "country": "US"}))
            .send()
            .await
            .unwrap();
        assert_eq!(call.status(), 200, "{}", call.text().await.unwrap());
        let teams = http
            .get(format!("{base}/admin/teams"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(teams.status(), 200);
        assert!(teams.text().await.unwrap().contains("\"demo\""));
        let positions = http
            .get(format!("{base}/finance/positions"))
            .bearer_auth(&finance)
            .send()
            .await
            .unwrap();
        assert_eq!(positions.status(), 200);
    }

    // What the observability profile's Prometheus scrapes answers.
    let prometheus = read_yaml("deploy/prometheus/prometheus.yml");
    let target = prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap();
    assert_eq!(target, "gateway:8080", "the gateway service's listener");
    let path = prometheus["scrape_configs"][0]["metrics_path"]
        .as_str()
        .unwrap();
    let metrics = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("cloro_gateway_"));

    drop(gateway_process);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&logs);
}

/// The observability profile mounts the committed Prometheus and Grafana files where each
/// program reads them, and they name each other by their compose service names.
#[test]
fn compose_observability_profile_points_at_the_committed_files() {
    let compose = read_yaml("docker-compose.yml");
    let mounts = |name: &str| -> Vec<(String, String)> {
        let service = service(&compose, name);
        assert_eq!(service["profiles"], serde_json::json!(["observability"]));
        service["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|volume| {
                let volume = volume.as_str().unwrap();
                let mut parts = volume.split(':');
                let (host, container) = (parts.next().unwrap(), parts.next().unwrap());
                (
                    host.trim_start_matches("./").to_owned(),
                    container.to_owned(),
                )
            })
            .collect()
    };
    let in_container = |mounts: &[(String, String)], host: &str| -> String {
        mounts
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("{host} is not mounted"))
    };

    let prometheus_mounts = mounts("prometheus");
    let config_dir = in_container(&prometheus_mounts, "deploy/prometheus");
    let command = words(service(&compose, "prometheus"), "command").unwrap();
    assert!(command.contains(&format!("--config.file={config_dir}/prometheus.yml")));
    let prometheus = read_yaml("deploy/prometheus/prometheus.yml");
    for rule_file in prometheus["rule_files"].as_array().unwrap() {
        let rule_file = rule_file.as_str().unwrap();
        assert!(
            Path::new(REPO)
                .join("deploy/prometheus")
                .join(rule_file)
                .is_file(),
            "rule file {rule_file} is committed beside prometheus.yml"
        );
    }
    assert_eq!(prometheus["rule_files"], serde_json::json!(["alerts.yml"]));

    let grafana_mounts = mounts("grafana");
    assert_eq!(
        in_container(&grafana_mounts, "deploy/grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let dashboards_dir = in_container(&grafana_mounts, "deploy/grafana/dashboards");
    let provider = read_yaml("deploy/grafana/provisioning/dashboards/cloro-gateway.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"].as_str(),
        Some(dashboards_dir.as_str())
    );
    assert!(
        Path::new(REPO)
            .join("deploy/grafana/dashboards/cloro-gateway.json")
            .is_file()
    );
    let datasources = read_yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &datasources["datasources"][0];
    assert_eq!(datasource["type"], "prometheus");
    let url = datasource["url"].as_str().unwrap();
    let ports = service(&compose, "prometheus")["ports"][0]
        .as_str()
        .unwrap();
    let container_port = ports.rsplit(':').next().unwrap();
    assert_eq!(url, format!("http://prometheus:{container_port}"));
}
