//! `updraft dev invoices`: tools for developing Updraft itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use updraft_invoices::{DEFAULT_ROWS, DEFAULT_SEED, Encoding, Options, Summary, write_csv};

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write a deterministic CSV of invoices shaped like Kaggle's
    /// carrie1/ecommerce-data (541,909 rows, cp1252, the same quirks): the
    /// same options always give the same bytes.
    Invoices {
        /// Data rows (the header not counted).
        #[arg(long, default_value_t = DEFAULT_ROWS)]
        rows: usize,
        /// Same seed, same shop (products, customers, ties).
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        #[arg(long, value_enum, default_value_t)]
        encoding: EncodingArg,
        /// Where to write: a file (replaced atomically) or `-` for stdout.
        #[arg(long, default_value = "-", value_name = "FILE|-")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EncodingArg {
    #[default]
    Cp1252,
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
}

pub fn run(cmd: DevCommand) -> Result<ExitCode> {
    match cmd {
        DevCommand::Invoices {
            rows,
            seed,
            encoding,
            out,
        } => {
            let opts = Options {
                rows,
                seed,
                encoding: match encoding {
                    EncodingArg::Cp1252 => Encoding::Cp1252,
                    EncodingArg::Utf8 => Encoding::Utf8,
                },
            };
            let started = Instant::now();
            let summary = if out.as_os_str() == "-" {
                // The generator writes in 64 KiB blocks: no buffer needed.
                write_csv(&opts, std::io::stdout().lock()).context("writing to stdout")?
            } else {
                write_atomically(&opts, &out)?
            };
            let Summary { rows, bytes } = summary;
            eprintln!("{rows} rows, {bytes} bytes, {:.3} s", started.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes beside `path`, then renames: a reader never sees half a file.
fn write_atomically(opts: &Options, path: &Path) -> Result<Summary> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let summary = write_csv(opts, tmp.as_file_mut()).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_invoices_parses_with_its_defaults() {
        use clap::Parser;

        use crate::settings::{Cli, Command};
        let cli = Cli::parse_from([
            "updraft",
            "dev",
            "invoices",
            "--rows",
            "5",
            "--encoding",
            "utf-8",
            "--out",
            "x.csv",
        ]);
        let Command::Dev(DevCommand::Invoices {
            rows,
            seed,
            encoding,
            out,
        }) = cli.command
        else {
            panic!("not dev");
        };
        assert_eq!(
            (rows, seed, encoding, out),
            (5, DEFAULT_SEED, EncodingArg::Utf8, PathBuf::from("x.csv"))
        );
        let cli = Cli::parse_from(["updraft", "dev", "invoices"]);
        let Command::Dev(DevCommand::Invoices {
            rows, encoding, out, ..
        }) = cli.command
        else {
            panic!("not dev");
        };
        assert_eq!(
            (rows, encoding, out),
            (DEFAULT_ROWS, EncodingArg::Cp1252, PathBuf::from("-"))
        );
    }

    #[test]
    fn a_file_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invoices.csv");
        std::fs::write(&path, "old").unwrap();
        let opts = Options {
            rows: 100,
            ..Options::default()
        };
        let summary = write_atomically(&opts, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            summary,
            Summary {
                rows: 100,
                bytes: bytes.len() as u64
            }
        );
        assert!(bytes.starts_with(updraft_invoices::HEADER.as_bytes()));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 101);
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
