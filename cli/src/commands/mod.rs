pub mod dags;
