//! Every file in `fixtures/invalid` is a broken DAG. Its `# expect:` lines
//! list exactly the diagnostics it must produce (`LINE:COL: message start`,
//! or `-: message start` for one without a place), no more and no fewer.

use std::path::{Path, PathBuf};

use updraft_engine::load_dag;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn each_invalid_fixture_reports_exactly_its_expected_problems() {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let files = fixtures();
    assert!(files.len() >= 25, "fixtures missing: {}", files.len());
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|e| match e.strip_prefix("-: ") {
                Some(msg) => format!("{}: {msg}", file.display()),
                None => format!("{}:{e}", file.display()),
            })
            .collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` line", file.display());
        let got: Vec<String> = match load_dag(&file, &text, &registry) {
            Ok(_) => Vec::new(),
            Err(diags) => diags.iter().map(ToString::to_string).collect(),
        };
        let unmatched: Vec<&String> = expected
            .iter()
            .filter(|e| !got.iter().any(|g| g.starts_with(e.as_str())))
            .collect();
        if !unmatched.is_empty() || got.len() != expected.len() {
            failures.push(format!(
                "{}\n  expected:\n    {}\n  got:\n    {}",
                file.display(),
                expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn example_dags_are_valid() {
    let registry = updraft_engine::Registry::with(updraft_operators::register_all);
    let dags = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dags");
    let bag = updraft_engine::load_paths(&[dags], &registry, &updraft_engine::dag::DagLimits::default());
    let problems: Vec<String> = bag.diagnostics().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(bag.dags.len() >= 4);
}
