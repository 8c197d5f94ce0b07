//! google/goto: where a Google result link finally lands.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::monitor_request::MonitorRequest;

pub fn generate(request: &MonitorRequest, rng: &mut StdRng) -> Value {
    let url = request.subject.text();
    let redirected = rng.random_bool(0.3);
    let final_url = if redirected && !url.ends_with('/') {
        format!("{url}/")
    } else {
        url.to_owned()
    };
    json!({
        "url": url,
        "finalUrl": final_url,
        "statusCode": 200,
        "redirects": if redirected { vec![json!({ "url": url, "statusCode": 301 })] } else { Vec::new() },
    })
}
