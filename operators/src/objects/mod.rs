//! The object operators, the same code for both services:
//! `gcs_upload`/`s3_upload` (local files, folders or globs to objects),
//! `gcs_copy`/`s3_copy` (objects to objects: by the service within one,
//! streamed across), `gcs_download`/`s3_download` (objects, prefixes or
//! globs to files on the worker), `gcs_delete`/`s3_delete` (named objects
//! or a prefix). Each checks that its locations are on its service.

mod delete;
mod glob;
mod sources;
mod transfer;

use serde::Deserialize;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

pub use delete::DeleteConfig;
pub use transfer::{Direction, IfExists, TransferConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Gcs,
    S3,
}

impl Service {
    pub fn scheme(self) -> &'static str {
        match self {
            Service::Gcs => "gs://",
            Service::S3 => "s3://",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Gcs => "gcs",
            Service::S3 => "s3",
        }
    }
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn items(&self) -> &[String] {
        match self {
            StringOrList::One(s) => std::slice::from_ref(s),
            StringOrList::Many(v) => v,
        }
    }
}

macro_rules! transfer_operator {
    ($ty:ident, $name:literal, $service:expr, $direction:expr) => {
        pub struct $ty;

        impl Operator for $ty {
            const NAME: &'static str = $name;
            type Config = TransferConfig;

            fn validate(c: &TransferConfig) -> Vec<String> {
                transfer::validate(c, $service, $direction)
            }

            async fn execute(&self, c: TransferConfig, ctx: TaskContext) -> Result<Output, TaskError> {
                transfer::run(c, $service, $direction, ctx).await
            }
        }
    };
}

macro_rules! delete_operator {
    ($ty:ident, $name:literal, $service:expr) => {
        pub struct $ty;

        impl Operator for $ty {
            const NAME: &'static str = $name;
            type Config = DeleteConfig;

            fn validate(c: &DeleteConfig) -> Vec<String> {
                delete::validate(c, $service)
            }

            async fn execute(&self, c: DeleteConfig, ctx: TaskContext) -> Result<Output, TaskError> {
                delete::run(c, $service, ctx).await
            }
        }
    };
}

transfer_operator!(GcsUpload, "gcs_upload", Service::Gcs, Direction::Upload);
transfer_operator!(S3Upload, "s3_upload", Service::S3, Direction::Upload);
transfer_operator!(GcsCopy, "gcs_copy", Service::Gcs, Direction::Copy);
transfer_operator!(S3Copy, "s3_copy", Service::S3, Direction::Copy);
transfer_operator!(GcsDownload, "gcs_download", Service::Gcs, Direction::Download);
transfer_operator!(S3Download, "s3_download", Service::S3, Direction::Download);
delete_operator!(GcsDelete, "gcs_delete", Service::Gcs);
delete_operator!(S3Delete, "s3_delete", Service::S3);

/// Registers the eight object operators.
pub fn register<R: updraft_operator_api::Registrar>(r: &mut R) {
    r.register(GcsUpload)
        .register(S3Upload)
        .register(GcsCopy)
        .register(S3Copy)
        .register(GcsDownload)
        .register(S3Download)
        .register(GcsDelete)
        .register(S3Delete);
}

#[cfg(test)]
mod tests;
