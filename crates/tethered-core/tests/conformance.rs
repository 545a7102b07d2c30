//! The upstream conformance vectors (`tests/fixtures/vectors.json`, a copy of
//! `shared/conformance/vectors.json`) run against the core engine.

use serde_json::Value;
use tethered_core::{Policy, normalize_host};

fn vectors() -> Value {
    serde_json::from_str(include_str!("fixtures/vectors.json")).unwrap_or(Value::Null)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn rules(case: &Value) -> Vec<String> {
    list(case, "allow")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

#[test]
fn match_vectors() {
    let v = vectors();
    let cases = list(&v, "match");
    assert!(cases.len() > 150, "fixture missing");
    let mut failures = Vec::new();
    for case in cases {
        let allow_localhost = case["allow_localhost"].as_bool().unwrap_or(true);
        let host = case["host"].as_str().unwrap_or_default();
        let port = case["port"].as_u64().map(|p| p as u16);
        let expected = case["expected"].as_bool().unwrap_or_default();
        let got = match Policy::new(&rules(case), allow_localhost) {
            Err((_, e)) => {
                failures.push(format!("{}: rules rejected: {e}", case["source"]));
                continue;
            }
            Ok(policy) => match case["resolved_from"].as_str() {
                Some(from) => policy.allows_resolved(host, port, from),
                None => policy.allows(host, port),
            },
        };
        if got != expected {
            failures.push(format!("{case}: got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_rule_vectors() {
    let v = vectors();
    let cases = list(&v, "invalid_rules");
    assert!(cases.len() > 20);
    for case in cases {
        let rule = case["rule"].as_str().unwrap_or_default();
        let result = Policy::new(&[rule], true);
        assert!(result.is_err(), "rule {rule:?} was accepted");
        match result {
            Ok(_) => {}
            Err((index, e)) => {
                assert_eq!(index, 0);
                if let Some(message) = case["message"].as_str() {
                    assert!(
                        e.message.contains(message),
                        "{:?} does not contain {message:?}",
                        e.message
                    );
                }
                assert!(
                    e.message.contains(&format!("'{rule}'")),
                    "{:?} does not quote the rule",
                    e.message
                );
            }
        }
    }
}

#[test]
fn normalize_vectors() {
    let v = vectors();
    let cases = list(&v, "normalize");
    assert!(cases.len() > 10);
    for case in cases {
        let input = case["input"].as_str().unwrap_or_default();
        let output = case["output"].as_str().unwrap_or_default();
        assert_eq!(normalize_host(input), output, "normalizing {input:?}");
    }
}

#[test]
fn reports_the_index_of_the_bad_rule() {
    let err = Policy::new(&["a.test", "b.test", "*"], true)
        .err()
        .map(|(i, _)| i);
    assert_eq!(err, Some(2));
}
