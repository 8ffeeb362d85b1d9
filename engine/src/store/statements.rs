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

type Query<'a> = sqlx::query::Query<'a, Any, AnyArguments>;

fn bind<'a>(mut q: Query<'a>, args: &'a [Arg]) -> Query<'a> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_str()),
        };
    }
    q
}

#[derive(Debug, Default)]
pub(crate) struct Statements {
    /// All of them, renumbered, as one query.
    sql: String,
    args: Vec<Arg>,
    /// Each as pushed, for a backend that takes one statement per query.
    each: Vec<(String, Vec<Arg>)>,
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
        let mut highest = 0;
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            self.sql.push_str(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            match rest[at + 1..at + 1 + digits].parse::<usize>() {
                Ok(n) => {
                    highest = highest.max(n);
                    self.sql.push_str(&format!("${}", n + offset));
                }
                Err(_) => self.sql.push('$'),
            }
            rest = &rest[at + 1 + digits..];
        }
        self.sql.push_str(rest);
        // A statement binding more or fewer values than it numbers would
        // shift every later statement's parameters.
        debug_assert_eq!(highest, args.len(), "parameters of: {sql}");
        self.args.extend(args.iter().cloned());
        self.each.push((sql.to_string(), args));
    }

    /// Runs them one query each, in order; the rows every `RETURNING` gave.
    pub(crate) async fn fetch_each(&self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        let mut rows = Vec::new();
        for (sql, args) in &self.each {
            rows.extend(
                bind(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), args)
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
        Ok(rows)
    }

    fn query(&self) -> Query<'_> {
        bind(sqlx::query(sqlx::AssertSqlSafe(self.sql.clone())), &self.args)
    }

    /// Runs them as one query (SQLite; Postgres takes one statement per
    /// query); the rows every `RETURNING` gave, in statement order.
    pub(crate) async fn fetch_all(&self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        Ok(self.query().fetch_all(conn).await?)
    }

    /// Runs them between `first` and `last` (`BEGIN ...` and `COMMIT`),
    /// in the same query. Only [`super::conn::WriteConn::fetch_all_atomic`]
    /// may call this: it deals with a failure between the two.
    pub(crate) async fn fetch_all_wrapped(
        &self,
        conn: &mut AnyConnection,
        first: &str,
        last: &str,
    ) -> Result<Vec<AnyRow>> {
        let mut sql = String::with_capacity(self.sql.len() + first.len() + last.len() + 4);
        sql.push_str(first);
        sql.push_str(";\n");
        sql.push_str(&self.sql);
        sql.push_str(";\n");
        sql.push_str(last);
        Ok(bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &self.args)
            .fetch_all(conn)
            .await?)
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
        assert_eq!(s.each[1].0, "SELECT $1, $2, $1 || '$'");
    }
}
