pub mod backfill;
pub mod dags;
pub mod db;
pub mod runs;
pub mod secrets;
pub mod serve;
pub mod tasks;
mod testing;
pub mod users;
