//! Value parsers for arguments whose form can be checked before anything
//! runs: a malformed one is a usage error (exit 2, with clap's usage
//! line), not a failure of the command. The value stays text: a date is
//! placed in the DAG's time zone once the DAG is loaded.

use jiff::tz::TimeZone;
use updraft_engine::time::parse_instant;

/// A logical date: RFC 3339, a date, or a date and time without offset.
pub fn date(text: &str) -> Result<String, String> {
    parse_instant(text, &TimeZone::UTC).map(|_| text.to_string())
}

/// A run's conf: a JSON object.
pub fn conf(text: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(text.to_string()),
        Ok(_) => Err("must be a JSON object, like '{\"key\": \"value\"}'".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_conf_are_checked_by_form() {
        assert!(date("2024-01-31").is_ok());
        assert!(date("2024-01-31T10:00:00+07:00").is_ok());
        assert!(date("2024-01-31T10:00").is_ok());
        assert!(date("garbage").unwrap_err().contains("YYYY-MM-DD"));
        assert!(date("2024-02-30").is_err());
        assert!(conf("{\"a\": 1}").is_ok());
        assert!(conf("[1]").unwrap_err().contains("JSON object"));
        assert!(conf("{").unwrap_err().contains("not valid JSON"));
    }
}
