//! Several statements sent as one query. SQLite runs them one after
//! another on its thread, each committed on its own as if sent separately,
//! but the query costs one round trip to that thread instead of one per
//! statement; on this machine a round trip (two thread wake-ups) is worth
//! ten times the statements a worker sends after each task. Postgres
//! prepares one statement per query: there, push one statement only.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection};

use super::Result;

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Statements {
    sql: String,
    args: Vec<Arg>,
}

impl Statements {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends a statement whose parameters are numbered from `$1`; they are
    /// renumbered to follow those of the statements already pushed.
    pub(crate) fn push(&mut self, sql: &str, args: Vec<Arg>) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        let offset = self.args.len();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            self.sql.push_str(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            match rest[at + 1..at + 1 + digits].parse::<usize>() {
                Ok(n) => self.sql.push_str(&format!("${}", n + offset)),
                Err(_) => self.sql.push('$'),
            }
            rest = &rest[at + 1 + digits..];
        }
        self.sql.push_str(rest);
        self.args.extend(args);
    }

    fn query(&self) -> sqlx::query::Query<'_, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()));
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
            };
        }
        q
    }

    /// Runs them; the rows every `RETURNING` gave, in statement order.
    pub(crate) async fn fetch_all(&self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        Ok(self.query().fetch_all(conn).await?)
    }

    /// SQLite: runs them in one write transaction, still one round trip
    /// (`BEGIN IMMEDIATE; ...; COMMIT`); all or nothing, and one commit
    /// instead of one per statement. If one fails the transaction is rolled
    /// back before the error is returned.
    pub(crate) async fn fetch_all_atomic(&self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        let mut sql = String::with_capacity(self.sql.len() + 40);
        sql.push_str("BEGIN IMMEDIATE;\n");
        sql.push_str(&self.sql);
        sql.push_str(";\nCOMMIT");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
            };
        }
        match q.fetch_all(&mut *conn).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                // Nothing to roll back if BEGIN itself failed; that error is
                // not the one to report.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e.into())
            }
        }
    }

    pub(crate) async fn execute(&self, conn: &mut AnyConnection) -> Result<u64> {
        Ok(self.query().execute(conn).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_after_earlier_statements() {
        let mut s = Statements::new();
        s.push("UPDATE t SET a = $1 WHERE b = $2", vec![1.into(), "x".into()]);
        s.push("SELECT $1, $2, $1 || '$'", vec![2.into(), 3.into()]);
        assert_eq!(s.sql, "UPDATE t SET a = $1 WHERE b = $2;\nSELECT $3, $4, $3 || '$'");
        assert_eq!(s.args.len(), 4);
    }
}
