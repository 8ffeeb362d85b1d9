//! Load generator for bench/throughput.sh: triggers a DAG through
//! `POST /api/v1/dags/{dag}/trigger` at a rising rate, open loop (each
//! request leaves at its scheduled instant whatever happened to the ones
//! before), and reads the runs back from the store to measure each one
//! from its scheduled send to its end.
//!
//!     UPDRAFT_BENCH_API=http://127.0.0.1:8080 UPDRAFT_BENCH_TOKEN=... \
//!     UPDRAFT_BENCH_DATABASE_URL=sqlite:///tmp/x/updraft.db \
//!     UPDRAFT_BENCH_RATES=500,1000,2500 UPDRAFT_BENCH_STEP_SECS=30 \
//!     cargo bench -p updraft-cli --bench throughput
//!
//! Per step: runs offered and finished, the achieved rate (runs finished
//! / time from the step's first send to its last run's end), and latency
//! p50 / p99 / max from the scheduled send to the run's end (a request
//! sent late because the machine was busy counts from when it was due:
//! no coordinated omission), plus the API's own answer time. Between steps
//! it waits until no run is queued or running; a step whose runs are not
//! all done `DRAIN_SECS` after its last send is saturated, and the ramp
//! stops there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use updraft_engine::store::{RunState, Store};

/// Requests in flight at most (the server closes connections beyond 256).
const IN_FLIGHT: usize = 192;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("set {name}"))
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One request's record: when it was due (wall clock, µs), how long the
/// API took to answer, and the run it created.
struct Sent {
    due_us: i64,
    answer_ms: f64,
    run_id: Option<String>,
    status: u16,
}

struct Step {
    rate: u32,
    offered: usize,
    accepted: usize,
    finished: usize,
    failed_runs: usize,
    achieved_per_min: f64,
    lat: Vec<f64>,
    answer: Vec<f64>,
    late_sends: usize,
    drained: bool,
}

/// What every step sends to and reads from.
struct Target {
    client: reqwest::Client,
    store: Store,
    api: String,
    token: String,
    dag: String,
    secs: u64,
    drain_secs: u64,
}

async fn run_step(t: &Target, rate: u32) -> Step {
    let Target {
        client,
        store,
        api,
        token,
        dag,
        secs,
        drain_secs,
    } = t;
    let (secs, drain_secs) = (*secs, *drain_secs);
    let n = (rate as u64 * secs / 60) as usize;
    let gap = Duration::from_secs_f64(60.0 / rate as f64);
    let url = format!("{api}/api/v1/dags/{dag}/trigger");
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let start = Instant::now();
    let start_wall = now_us();
    let mut handles = Vec::with_capacity(n);
    let mut late_sends = 0;
    for i in 0..n {
        let due = start + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let permit = gate.clone().acquire_owned().await.unwrap();
        if due.elapsed() > Duration::from_millis(10) {
            late_sends += 1;
        }
        let due_us = start_wall + (due - start).as_micros() as i64;
        let req = client.post(&url).bearer_auth(token).json(&serde_json::json!({}));
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = req.send().await;
            let answer_ms = t.elapsed().as_secs_f64() * 1000.0;
            drop(permit);
            match r {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body: serde_json::Value = resp.json().await.unwrap_or_default();
                    Sent {
                        due_us,
                        answer_ms,
                        run_id: body["run_id"].as_str().map(String::from),
                        status,
                    }
                }
                Err(e) => {
                    eprintln!("request failed: {e}");
                    Sent {
                        due_us,
                        answer_ms,
                        run_id: None,
                        status: 0,
                    }
                }
            }
        }));
    }
    let mut sent = Vec::with_capacity(n);
    for h in handles {
        sent.push(h.await.unwrap());
    }
    let last_send = Instant::now();
    let mut codes: HashMap<u16, usize> = HashMap::new();
    for s in &sent {
        *codes.entry(s.status).or_default() += 1;
    }
    if codes.keys().any(|c| *c != 201) {
        eprintln!("  answers by status: {codes:?}");
    }
    // Wait for the runs to end (polled: a count every 200 ms).
    let mut drained = false;
    while last_send.elapsed() < Duration::from_secs(drain_secs) {
        let open = store
            .count_runs(dag, &[RunState::Queued, RunState::Running])
            .await
            .unwrap();
        if open == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.run_id.is_some()).collect();
    let runs = store.list_runs(dag, 10_000_000).await.unwrap();
    let by_id: HashMap<&str, _> = runs.iter().map(|r| (r.run_id.as_str(), r)).collect();
    let (mut lat, mut last_end, mut failed_runs) = (Vec::new(), start_wall, 0);
    for s in &accepted {
        let Some(r) = by_id.get(s.run_id.as_deref().unwrap()) else {
            continue;
        };
        if r.state == RunState::Failed {
            failed_runs += 1;
        }
        if let (true, Some(end)) = (r.state.is_finished(), r.end_date) {
            let end = end.as_microsecond();
            lat.push((end - s.due_us) as f64 / 1000.0);
            last_end = last_end.max(end);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut answer: Vec<f64> = sent.iter().map(|s| s.answer_ms).collect();
    answer.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let span_s = (last_end - start_wall) as f64 / 1e6;
    Step {
        rate,
        offered: n,
        accepted: accepted.len(),
        finished: lat.len(),
        failed_runs,
        achieved_per_min: if span_s > 0.0 {
            lat.len() as f64 / span_s * 60.0
        } else {
            0.0
        },
        lat,
        answer,
        late_sends,
        drained,
    }
}

#[tokio::main]
async fn main() {
    let api = env("UPDRAFT_BENCH_API");
    let token = env("UPDRAFT_BENCH_TOKEN");
    let dag = std::env::var("UPDRAFT_BENCH_DAG").unwrap_or_else(|_| "two".into());
    let rates: Vec<u32> = std::env::var("UPDRAFT_BENCH_RATES")
        .unwrap_or_else(|_| "500,1000,2500,5000,10000,15000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("rates: runs per minute, comma separated"))
        .collect();
    let secs: u64 = std::env::var("UPDRAFT_BENCH_STEP_SECS").map_or(30, |s| s.parse().unwrap());
    let drain_secs: u64 = std::env::var("UPDRAFT_BENCH_DRAIN_SECS").map_or(60, |s| s.parse().unwrap());
    let target = Target {
        client: updraft_io::http::client(),
        store: Store::connect(&env("UPDRAFT_BENCH_DATABASE_URL")).await.unwrap(),
        api,
        token,
        dag,
        secs,
        drain_secs,
    };
    println!(
        "| offered /min | sent | accepted | runs ended | achieved /min | p50 ms | p99 ms | max ms | API answer p50 / p99 ms | sends >10 ms late |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for rate in rates {
        let s = run_step(&target, rate).await;
        println!(
            "| {} | {} | {} | {}{} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} / {:.1} | {} |",
            s.rate,
            s.offered,
            s.accepted,
            s.finished,
            if s.failed_runs > 0 {
                format!(" ({} failed)", s.failed_runs)
            } else {
                String::new()
            },
            s.achieved_per_min,
            pct(&s.lat, 0.5),
            pct(&s.lat, 0.99),
            s.lat.last().copied().unwrap_or(f64::NAN),
            pct(&s.answer, 0.5),
            pct(&s.answer, 0.99),
            s.late_sends,
        );
        if !s.drained {
            println!(
                "(saturated: runs still queued or running {drain_secs} s after the step's last send; ramp stopped)"
            );
            break;
        }
    }
}
