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

fn bind<'a>(mut q: Query<'a>, args: impl IntoIterator<Item = &'a Arg>) -> Query<'a> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_str()),
        };
    }
    q
}

/// Statements with their parameters, each numbered from `$1`.
#[derive(Debug, Default)]
pub(crate) struct Statements {
    each: Vec<(String, Vec<Arg>)>,
}

impl Statements {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, sql: &str, args: Vec<Arg>) {
        self.each.push((sql.to_string(), args));
    }

    /// All of them as one query between `first` and `last` (when given),
    /// each statement's parameters renumbered to follow the previous ones'.
    fn joined(&self, first: Option<&str>, last: Option<&str>) -> String {
        let mut parts: Vec<String> = first.map(str::to_string).into_iter().collect();
        let mut offset = 0;
        for (sql, args) in &self.each {
            let mut part = String::with_capacity(sql.len());
            let highest = renumber(sql, offset, &mut part);
            // A statement binding more or fewer values than it numbers
            // would shift every later statement's parameters.
            debug_assert_eq!(highest, args.len(), "parameters of: {sql}");
            offset += args.len();
            parts.push(part);
        }
        parts.extend(last.map(str::to_string));
        parts.join(";\n")
    }

    fn args(&self) -> impl Iterator<Item = &Arg> {
        self.each.iter().flat_map(|(_, args)| args)
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

    /// Runs them as one query (SQLite; Postgres takes one statement per
    /// query); the rows every `RETURNING` gave, in statement order.
    pub(crate) async fn fetch_all(&self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        self.fetch_all_wrapped(conn, None, None).await
    }

    /// Runs them as one query between `first` and `last` (`BEGIN ...` and
    /// `COMMIT`). Only [`super::conn::WriteConn::fetch_all_atomic`] passes
    /// those: it deals with a failure between the two.
    pub(crate) async fn fetch_all_wrapped(
        &self,
        conn: &mut AnyConnection,
        first: Option<&str>,
        last: Option<&str>,
    ) -> Result<Vec<AnyRow>> {
        let sql = self.joined(first, last);
        Ok(bind(sqlx::query(sqlx::AssertSqlSafe(sql)), self.args())
            .fetch_all(conn)
            .await?)
    }

    pub(crate) async fn execute(&self, conn: &mut AnyConnection) -> Result<u64> {
        let sql = self.joined(None, None);
        Ok(bind(sqlx::query(sqlx::AssertSqlSafe(sql)), self.args())
            .execute(conn)
            .await?
            .rows_affected())
    }
}

/// Appends `sql` to `out` with each `$N` raised by `offset`; returns the
/// highest `N` it numbers.
fn renumber(sql: &str, offset: usize, out: &mut String) -> usize {
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        match rest[at + 1..at + 1 + digits].parse::<usize>() {
            Ok(n) => {
                highest = highest.max(n);
                out.push_str(&format!("${}", n + offset));
            }
            Err(_) => out.push('$'),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_after_earlier_statements() {
        let mut s = Statements::new();
        s.push("UPDATE t SET a = $1 WHERE b = $2", vec![1.into(), "x".into()]);
        s.push("SELECT $1, $2, $1 || '$'", vec![2.into(), 3.into()]);
        assert_eq!(
            s.joined(None, None),
            "UPDATE t SET a = $1 WHERE b = $2;\nSELECT $3, $4, $3 || '$'"
        );
        assert_eq!(
            s.joined(Some("BEGIN"), Some("COMMIT")),
            "BEGIN;\nUPDATE t SET a = $1 WHERE b = $2;\nSELECT $3, $4, $3 || '$';\nCOMMIT"
        );
        assert_eq!(s.args().count(), 4);
        assert_eq!(s.each[1].0, "SELECT $1, $2, $1 || '$'");
    }
}
