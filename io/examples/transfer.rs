//! One transfer through the location layer, for `bench/transfer.sh`:
//!
//!     transfer FROM TO
//!
//! FROM and TO are locations (a path, s3://, gs://). S3 goes to
//! `UPDRAFT_BENCH_S3_URL` with any keys (moto), GCS to
//! `UPDRAFT_BENCH_GCS_URL` without credentials (fake-gcs-server).

use updraft_io::{Location, Stores};

use updraft_operator_api::connection::{AwsAuth, AwsConnection, GcpConnection};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to] = args.as_slice() else {
        eprintln!("usage: transfer FROM TO");
        std::process::exit(2);
    };
    let from: Location = from.parse().expect("FROM");
    let to: Location = to.parse().expect("TO");
    let stores = Stores::new(
        AwsConnection {
            auth: AwsAuth::Static {
                access_key_id: "bench".into(),
                secret_access_key: "bench".into(),
                session_token: None,
            },
            region: Some("us-east-1".into()),
            endpoint_url: std::env::var("UPDRAFT_BENCH_S3_URL").ok(),
            force_path_style: true,
            role_arn: None,
        },
        GcpConnection {
            endpoint_url: std::env::var("UPDRAFT_BENCH_GCS_URL").ok(),
            ..GcpConnection::application_default()
        },
    );
    let n = stores
        .copy(&from, &to, &tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{n}");
}
