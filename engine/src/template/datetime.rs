//! Dates in templates behave like Airflow's pendulum datetimes: they print as
//! ISO 8601 (`2024-11-01T00:00:00+00:00`) and offer `strftime`,
//! `isoformat`, `in_timezone` and the usual attributes.

use std::fmt;
use std::sync::Arc;

use jiff::{Timestamp, ZonedDateTime, fmt::strtime::BrokenDownTime, tz::TimeZone};
use minijinja::value::{Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};

#[derive(Debug, Clone)]
pub struct DateTimeValue(pub ZonedDateTime);

impl DateTimeValue {
    pub fn utc(ts: Timestamp) -> Value {
        Value::from_object(DateTimeValue(ts.to_zoned_datetime(TimeZone::UTC)))
    }
}

/// `2024-11-01T00:00:00+00:00` (Python's `isoformat`; microseconds only
/// when present).
pub fn isoformat(z: &ZonedDateTime) -> String {
    let fmt = if z.subsec_nanosecond() != 0 {
        "%Y-%m-%dT%H:%M:%S%.6f%:z"
    } else {
        "%Y-%m-%dT%H:%M:%S%:z"
    };
    z.strftime(fmt).to_string()
}

fn strftime(z: &ZonedDateTime, fmt: &str) -> Result<String, Error> {
    BrokenDownTime::from(z)
        .to_string(fmt)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("strftime({fmt:?}): {e}")))
}

impl fmt::Display for DateTimeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&isoformat(&self.0))
    }
}

impl Object for DateTimeValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let z = &self.0;
        Some(match key.as_str()? {
            "year" => Value::from(z.year()),
            "month" => Value::from(z.month()),
            "day" => Value::from(z.day()),
            "hour" => Value::from(z.hour()),
            "minute" => Value::from(z.minute()),
            "second" => Value::from(z.second()),
            "microsecond" => Value::from(z.subsec_nanosecond() / 1000),
            "tzname" | "timezone_name" => Value::from(z.time_zone().iana_name().unwrap_or("UTC")),
            _ => return None,
        })
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let z = &self.0;
        match method {
            "strftime" => {
                let (fmt,): (&str,) = from_args(args)?;
                Ok(Value::from(strftime(z, fmt)?))
            }
            "isoformat" => Ok(Value::from(isoformat(z))),
            "timestamp" => Ok(Value::from(z.timestamp().as_second())),
            "date" | "to_date_string" => Ok(Value::from(z.date().to_string())),
            "in_timezone" | "in_tz" => {
                let (name,): (&str,) = from_args(args)?;
                let tz = TimeZone::get(name)
                    .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("unknown time zone {name:?}")))?;
                Ok(Value::from_object(DateTimeValue(z.with_time_zone(tz))))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_ref(), f)
    }
}
