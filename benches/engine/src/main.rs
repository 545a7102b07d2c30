//! Engine-only decision timing: `tethered-engine-bench DIR` reads `DIR/rules-N.txt` (one rule a
//! line) and `DIR/queries-N.txt` (`host port`, `-` for no port), written by
//! `benches/decision.bench.ts --engine`, and prints one line per size:
//! `N <median ns per decision> <allowed count>`.

use std::hint::black_box;
use std::time::Instant;
use tethered_core::Policy;

type Query = (String, Option<u16>);

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("tethered-engine-bench: cannot read {path}: {e}");
        std::process::exit(2)
    })
}

fn parse_queries(text: &str) -> Vec<Query> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (host, port) = l.rsplit_once(' ').unwrap_or((l, "-"));
            (host.to_string(), port.parse().ok())
        })
        .collect()
}

/// One pass over every query: the allowed count.
fn pass(policy: &Policy, queries: &[Query]) -> usize {
    queries
        .iter()
        .filter(|(host, port)| policy.allows(black_box(host), black_box(*port)))
        .count()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/bench-workload".to_string());
    let sizes = read(&format!("{dir}/sizes.txt"));
    for size in sizes.split_whitespace() {
        let rules: Vec<String> = read(&format!("{dir}/rules-{size}.txt"))
            .lines()
            .map(str::to_string)
            .collect();
        let queries = parse_queries(&read(&format!("{dir}/queries-{size}.txt")));
        let Ok(policy) = Policy::new(&rules, true) else {
            eprintln!("tethered-engine-bench: the {size}-rule list does not compile");
            std::process::exit(2)
        };
        let allowed = pass(&policy, &queries);
        // Warm up for ~200 ms, then time passes for ~1 s; report the median pass.
        let start = Instant::now();
        while start.elapsed().as_millis() < 200 {
            black_box(pass(&policy, &queries));
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed().as_millis() < 1000 || samples.len() < 20 {
            let t = Instant::now();
            let n = pass(&policy, &queries);
            samples.push(t.elapsed().as_nanos() as f64 / queries.len() as f64);
            assert_eq!(n, allowed, "verdicts changed between passes");
        }
        samples.sort_by(f64::total_cmp);
        println!("{size} {:.1} {allowed}", samples[samples.len() / 2]);
    }
}
