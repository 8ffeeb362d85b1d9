//! Updraft's operators, one folder each: a typed config (serde, unknown
//! fields rejected) and its execution.

#[cfg(feature = "bigquery")]
pub mod bigquery;
#[cfg(feature = "docker")]
pub mod docker;
pub mod empty;
#[cfg(feature = "downloads")]
pub mod http_download;
#[cfg(feature = "downloads")]
pub mod kaggle_download;
#[cfg(feature = "objects")]
pub mod objects;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod shell;
#[cfg(feature = "table")]
pub mod table;
#[cfg(test)]
mod testing;
#[cfg(feature = "transform")]
pub mod transform;

use updraft_operator_api::Registrar;

/// Registers every operator of this crate (with the engine's registry:
/// `Registry::with(updraft_operators::register_all)`).
pub fn register_all<R: Registrar>(r: &mut R) {
    r.register(empty::EmptyOperator).register(shell::ShellOperator);
    #[cfg(feature = "docker")]
    r.register(docker::DockerOperator);
    #[cfg(feature = "downloads")]
    r.register(http_download::HttpDownloadOperator)
        .register(kaggle_download::KaggleDownloadOperator);
    #[cfg(feature = "postgres")]
    r.register(postgres::extract::PostgresExtract)
        .register(postgres::load::PostgresLoad)
        .register(postgres::sql::PostgresSql);
    #[cfg(feature = "transform")]
    r.register(transform::TransformOperator);
    #[cfg(feature = "objects")]
    objects::register(r);
    #[cfg(feature = "bigquery")]
    r.register(bigquery::BigQueryLoad)
        .register(bigquery::BigQueryExternalTable)
        .register(bigquery::BigQueryQuery);
}
