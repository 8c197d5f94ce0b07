//! deploy/k8s as a cluster would get it: the base and each overlay rendered by
//! `deploy/k8s/render.py` (the subset of kustomize the manifests use; compared with
//! `kubectl kustomize` whenever kubectl is on PATH), every document validated strictly
//! against the schemas of two pinned Kubernetes versions with `kubernetes-validate`, and the
//! gateway's container environment (plus the production config file) loaded by the gateway's
//! own config loader, so a misspelt setting or a missing secret fails here, not in a cluster.

use cloro_gateway::config::Settings;
use e2e_tests::python_venv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The oldest and the newest Kubernetes the manifests are validated against.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30", "1.35"];
const VALIDATOR: &str = "kubernetes-validate==1.37.0";

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s")
}

/// The venv's python, with kubernetes-validate (and PyYAML) installed once per process.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            python_venv::ensure("k8s-validate-venv", VALIDATOR)
                .join("bin")
                .join("python")
        })
        .clone()
}

/// The rendering of `deploy/k8s/<kustomization>`, after render.py validated it.
fn render(kustomization: &str) -> Vec<Value> {
    let mut command = Command::new(python());
    command
        .arg(k8s_dir().join("render.py"))
        .arg("--json")
        .arg("--compare-kubectl");
    for version in KUBERNETES_VERSIONS {
        command.args(["--validate", version]);
    }
    let output = command.arg(k8s_dir().join(kustomization)).output().unwrap();
    assert!(
        output.status.success(),
        "rendering or validating {kustomization} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_entry<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
}

/// A Secret's value in the rendering (generated: base64, maybe wrapped), or None.
fn secret_value(docs: &[Value], name: &str, key: &str) -> Option<String> {
    let secret = docs
        .iter()
        .find(|doc| doc["kind"] == "Secret" && doc["metadata"]["name"] == name)?;
    let encoded: String = secret["data"][key].as_str()?.split_whitespace().collect();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    Some(String::from_utf8(bytes).unwrap())
}

/// What the gateway container's environment gives the config loader: literal values, and
/// each secret reference resolved from the rendering or, for a Secret created outside it
/// (documented in docs/operations.md), a value of the shape that Secret must hold.
fn gateway_env(docs: &[Value], container: &Value) -> Vec<(String, String)> {
    let placeholder = |key: &str| match key {
        "database-url" => "postgres://gateway:password@pg.internal:5432/cloro_gateway".to_owned(),
        "redis-url" => "redis://:password@redis.internal:6379".to_owned(),
        "cloro-api-key" => "sk_live_0123456789abcdef0123456789abcdef".to_owned(),
        "signing-secret" => "a-signing-secret-of-at-least-32-bytes-0123456789".to_owned(),
        other => panic!("docs/operations.md documents no Secret key {other}"),
    };
    let mut env = Vec::new();
    for entry in container["env"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap().to_owned();
        if let Some(value) = entry["value"].as_str() {
            env.push((name, value.to_owned()));
            continue;
        }
        let reference = &entry["valueFrom"]["secretKeyRef"];
        let (secret, key) = (
            reference["name"].as_str().unwrap(),
            reference["key"].as_str().unwrap(),
        );
        let value = secret_value(docs, secret, key).unwrap_or_else(|| placeholder(key));
        env.push((name, value));
    }
    env
}

/// The gateway's settings as the Deployment configures them; `config_file` stands for the
/// file CLORO_GATEWAY_CONFIG names.
fn gateway_settings(docs: &[Value], config_file: Option<&str>) -> Settings {
    let gateway = container(find(docs, "Deployment", "cloro-gateway"), "gateway");
    let env = gateway_env(docs, gateway);
    let file = config_file.map(|path| {
        let text = std::fs::read_to_string(k8s_dir().join(path)).unwrap();
        (path.to_owned(), text)
    });
    Settings::from_sources(file.as_ref().map(|(o, t)| (o.as_str(), t.as_str())), env)
        .unwrap_or_else(|err| panic!("the gateway would refuse this configuration: {err}"))
}

fn seconds(value: &Value) -> u64 {
    value.as_u64().unwrap()
}

/// What every rendering must keep: secrets by reference, probes, limits, a locked-down
/// container, a grace period that drains the longest call, the migration Job.
fn check_common(docs: &[Value], settings: &Settings) {
    let deployment = find(docs, "Deployment", "cloro-gateway");
    let pod = &deployment["spec"]["template"]["spec"];
    let gateway = container(deployment, "gateway");
    for (var, key) in [
        ("CLORO_API_KEY", "cloro-api-key"),
        ("CLORO_GATEWAY__AUTH__SIGNING_SECRET", "signing-secret"),
        ("DATABASE_URL", "database-url"),
    ] {
        let reference = &env_entry(gateway, var).unwrap()["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["key"], key, "{var} comes from the Secret");
        assert!(
            reference["name"]
                .as_str()
                .unwrap()
                .starts_with("cloro-gateway")
        );
    }
    assert!(settings.auth.signing_secret.expose().len() >= 32);
    assert_eq!(gateway["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(gateway["readinessProbe"]["httpGet"]["path"], "/readyz");
    for bound in ["requests", "limits"] {
        assert!(gateway["resources"][bound]["memory"].is_string(), "{bound}");
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(gateway["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        gateway["securityContext"]["allowPrivilegeEscalation"],
        false
    );

    // SIGTERM → the gateway drains for shutdown_timeout_secs, which covers a whole call.
    let pre_stop: u64 = gateway["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = seconds(&pod["terminationGracePeriodSeconds"]);
    assert!(settings.server.shutdown_timeout_secs >= settings.upstream.request_timeout_secs);
    assert!(grace > pre_stop + settings.server.shutdown_timeout_secs);

    let job = find(docs, "Job", "cloro-gateway-migrate");
    let migrate = container(job, "migrate");
    assert_eq!(migrate["args"], serde_json::json!(["migrate"]));
    assert_eq!(
        migrate["image"], gateway["image"],
        "same version as the gateway"
    );
    assert!(env_entry(migrate, "DATABASE_URL").is_some());

    let hpa = find(docs, "HorizontalPodAutoscaler", "cloro-gateway");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert!(
        deployment["spec"].get("replicas").is_none(),
        "the autoscaler owns the count"
    );
    find(docs, "PodDisruptionBudget", "cloro-gateway");
    find(docs, "Service", "cloro-gateway");
    let policy = find(docs, "NetworkPolicy", "cloro-gateway");
    let egress_ports: Vec<u64> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap().clone())
        .map(|port| port["port"].as_u64().unwrap())
        .collect();
    for port in [53, 5432, 6379, 443] {
        assert!(egress_ports.contains(&port), "egress to port {port}");
    }
    assert_eq!(
        policy["spec"]["ingress"][0]["ports"][0]["port"], 8080,
        "ingress to the public listener"
    );
}

fn hpa_bounds(docs: &[Value]) -> (u64, u64) {
    let spec = &find(docs, "HorizontalPodAutoscaler", "cloro-gateway")["spec"];
    (seconds(&spec["minReplicas"]), seconds(&spec["maxReplicas"]))
}

#[test]
fn k8s_base_renders_validates_and_commits_no_secret() {
    let docs = render("base");
    assert!(
        docs.iter().all(|doc| doc["kind"] != "Secret"),
        "the base's Secret is created outside git"
    );
    let settings = gateway_settings(&docs, None);
    check_common(&docs, &settings);
}

#[test]
fn k8s_trial_overlay_is_one_replica_with_its_own_postgres_redis_and_simulator() {
    let docs = render("overlays/trial");
    let settings = gateway_settings(&docs, None);
    check_common(&docs, &settings);
    assert_eq!(hpa_bounds(&docs), (1, 1));

    // Its generated Secret points the gateway at the overlay's own services.
    find(docs.as_slice(), "StatefulSet", "cloro-gateway-postgres");
    find(&docs, "Service", "cloro-gateway-postgres");
    find(&docs, "Deployment", "cloro-gateway-redis");
    find(&docs, "Service", "cloro-gateway-redis");
    find(&docs, "Service", "cloro-sim");
    assert!(
        settings
            .database
            .url
            .expose()
            .contains("@cloro-gateway-postgres:5432/")
    );
    assert_eq!(
        settings.redis.url.expose(),
        "redis://cloro-gateway-redis:6379"
    );
    assert_eq!(settings.upstream.base_url, "http://cloro-sim:9100");
    assert_eq!(
        settings.upstream.api_key.expose(),
        cloro_sim::DEFAULT_API_KEY,
        "the key the simulator accepts"
    );
    let postgres = container(
        find(&docs, "StatefulSet", "cloro-gateway-postgres"),
        "postgres",
    );
    let password_ref = &env_entry(postgres, "POSTGRES_PASSWORD").unwrap()["valueFrom"];
    let password = secret_value(
        &docs,
        password_ref["secretKeyRef"]["name"].as_str().unwrap(),
        "password",
    )
    .unwrap();
    assert!(
        settings
            .database
            .url
            .expose()
            .contains(&format!(":{password}@"))
    );
    let secrets = docs.iter().filter(|doc| doc["kind"] == "Secret");
    for secret in secrets {
        let name = secret["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("cloro-gateway-"),
            "generated, with a hash: {name}"
        );
    }
}

#[test]
fn k8s_production_overlay_runs_three_replicas_on_a_redis_cluster_with_jwks() {
    let docs = render("overlays/production");
    assert!(
        docs.iter().all(|doc| doc["kind"] != "Secret"),
        "production secrets are created outside git"
    );
    let deployment = find(&docs, "Deployment", "cloro-gateway");
    let gateway = container(deployment, "gateway");

    // CLORO_GATEWAY_CONFIG names the file the Secret cloro-gateway-config is mounted as;
    // gateway.example.toml is what that file holds.
    let config_path = env_entry(gateway, "CLORO_GATEWAY_CONFIG").unwrap()["value"]
        .as_str()
        .unwrap();
    let (mount_dir, file_name) = config_path.rsplit_once('/').unwrap();
    assert_eq!(file_name, "gateway.toml");
    let mount = gateway["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == mount_dir)
        .expect("the config file is mounted");
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "cloro-gateway-config");
    let settings = gateway_settings(&docs, Some("overlays/production/gateway.example.toml"));
    check_common(&docs, &settings);

    let (min, max) = hpa_bounds(&docs);
    assert!(min >= 3 && max >= min, "{min}..{max}");
    assert!(!settings.redis.cluster_nodes.is_empty(), "a Redis Cluster");
    assert!(settings.auth.jwks_url.starts_with("https://"), "a JWKS");
    assert_eq!(settings.auth.jwks_policy.roles, ["team"]);

    // Metrics and readiness on the internal listener, which Prometheus may reach.
    let admin_port: u64 = settings
        .server
        .admin_listen
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let admin = gateway["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == admin_port)
        .expect("the admin port is declared");
    assert_eq!(gateway["readinessProbe"]["httpGet"]["port"], admin["name"]);
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], admin_port.to_string());
    let metrics_policy = find(&docs, "NetworkPolicy", "cloro-gateway-metrics");
    assert_eq!(
        metrics_policy["spec"]["ingress"][0]["ports"][0]["port"],
        admin_port
    );

    // Postgres connections stay bounded across the autoscaler's range.
    let per_replica =
        settings.database.max_connections + settings.database.read_max_connections + 1;
    assert!(
        u64::from(per_replica) * max <= 200,
        "{per_replica} x {max} replicas"
    );
}
