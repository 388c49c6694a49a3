//! The text forms of the WIT `value` cases that travel as text (`decimal`,
//! `date`, `time`, `timestamp`, `timestamptz`, `uuid`), read and written here
//! once for every backend. wit/migration.wit fixes the forms; a backend only
//! turns the parsed value into its driver's type and back, so a guest sees
//! the same text whichever database it runs against. (`json` is checked by
//! the database, or by the MySQL backend, and never rewritten.)
//!
//! Reading (a guest's parameter):
//!
//! - `date`: `YYYY-MM-DD`.
//! - `time`: `HH:MM:SS[.f…]`, no zone.
//! - `timestamp`: `YYYY-MM-DDTHH:MM:SS[.f…]`, no zone; a space instead of
//!   the `T` is accepted too (RFC 3339 allows it, and so do the databases).
//! - `timestamptz`: RFC 3339 with an offset or `Z`.
//! - `decimal`: an optional sign, digits, an optional fraction, no exponent
//!   (`-123.4500`, `.5`, `5.`).
//! - `uuid`: the hyphenated form (the simple, braced and URN forms are
//!   accepted too), written back hyphenated in lower case.
//!
//! A fraction of a second may have more than six digits when read; the
//! databases store microseconds, and the driver truncates what lies beyond.
//!
//! Writing (a result column), **the one rule for fractional seconds**: as
//! many digits as the value needs, at most six (microseconds), trailing
//! zeros trimmed, and no fraction at all for a whole second: `13:45:30`,
//! `13:45:30.5`, `00:00:00.00005`, `13:45:30.123456`. This is how
//! PostgreSQL prints them itself (and how the MySQL backend did), it is
//! within the contract's `[.ffffff]`, and it gives one text for one instant
//! (`.5` and `.500000` are the same value). A `timestamptz` comes back in
//! UTC with `Z`, as the contract says.
//!
//! Decimals are not written here: each database gives their exact text
//! (PostgreSQL's binary `numeric` is decoded in the PostgreSQL backend,
//! MySQL sends text), and that text is already the contract's form.

use std::fmt;
use std::str::FromStr;

use sqlx::types::{BigDecimal, Uuid};
use thiserror::Error;

use super::DbError;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A tagged case whose text has a form to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Decimal,
    Uuid,
}

impl Form {
    /// The form as the contract writes it, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Form::Date => "YYYY-MM-DD",
            Form::Time => "HH:MM:SS[.ffffff]",
            Form::Timestamp => "YYYY-MM-DDTHH:MM:SS[.ffffff]",
            Form::Timestamptz => "RFC 3339 with an offset, YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM or Z",
            Form::Decimal => "a plain decimal number such as -123.4500",
            Form::Uuid => "the hyphenated form 67e55044-10b1-426f-9247-bb680e5fe0c8",
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::Date => "date",
            Form::Time => "time",
            Form::Timestamp => "timestamp",
            Form::Timestamptz => "timestamptz",
            Form::Decimal => "decimal",
            Form::Uuid => "uuid",
        })
    }
}

/// A guest's text that is not in its case's form. Each backend words the
/// message with the parameter's position (`$2` or `2`), as its
/// documentation shows.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{text:?} is not a {form}; expected {}", form.expected())]
pub(crate) struct Malformed {
    pub(crate) form: Form,
    pub(crate) text: String,
}

impl Malformed {
    fn new(form: Form, text: &str) -> Self {
        Malformed {
            form,
            text: text.to_string(),
        }
    }

    /// The error of a guest's parameter in this form, named as the
    /// database's placeholders count it (`$2` on PostgreSQL, `2` elsewhere).
    pub(crate) fn at_parameter(self, label: impl std::fmt::Display) -> DbError {
        DbError::new(format!(
            "parameter {label}: {:?} is not a valid {} value; expected {}",
            self.text,
            self.form,
            self.form.expected()
        ))
    }
}

const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");
const TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[hour]:[minute]:[second][optional [.[subsecond]]]");
const TIMESTAMP: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
);

pub(crate) fn parse_date(s: &str) -> Result<Date, Malformed> {
    Date::parse(s, DATE).map_err(|_| Malformed::new(Form::Date, s))
}

pub(crate) fn parse_time(s: &str) -> Result<Time, Malformed> {
    Time::parse(s, TIME).map_err(|_| Malformed::new(Form::Time, s))
}

pub(crate) fn parse_timestamp(s: &str) -> Result<PrimitiveDateTime, Malformed> {
    PrimitiveDateTime::parse(s, TIMESTAMP).map_err(|_| Malformed::new(Form::Timestamp, s))
}

pub(crate) fn parse_timestamptz(s: &str) -> Result<OffsetDateTime, Malformed> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| Malformed::new(Form::Timestamptz, s))
}

/// A decimal in the contract's form, exactly (BigDecimal keeps every digit).
pub(crate) fn parse_decimal(s: &str) -> Result<BigDecimal, Malformed> {
    // BigDecimal alone would also take exponents (`1e5`), which the
    // contract excludes so that every guest language can read the text.
    is_plain_decimal(s)
        .then(|| BigDecimal::from_str(s).ok())
        .flatten()
        .ok_or_else(|| Malformed::new(Form::Decimal, s))
}

/// Whether `s` is a decimal in the contract's form: an optional sign,
/// digits with an optional fraction (at least one digit), no exponent.
pub(crate) fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A uuid in any form the uuid crate reads (hyphenated, simple, braced, URN).
pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, Malformed> {
    Uuid::parse_str(s).map_err(|_| Malformed::new(Form::Uuid, s))
}

/// The contract's form: hyphenated, lower case.
pub(crate) fn format_uuid(u: Uuid) -> String {
    u.hyphenated().to_string()
}

pub(crate) fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `HH:MM:SS` and the fraction by the module's one rule.
pub(crate) fn format_time(t: Time) -> String {
    format!(
        "{:02}:{:02}:{:02}{}",
        t.hour(),
        t.minute(),
        t.second(),
        fraction(t.microsecond())
    )
}

pub(crate) fn format_timestamp(t: PrimitiveDateTime) -> String {
    format!("{}T{}", format_date(t.date()), format_time(t.time()))
}

/// The instant in UTC, with `Z`, whatever offset it carries.
pub(crate) fn format_timestamptz(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    format!(
        "{}Z",
        format_timestamp(PrimitiveDateTime::new(utc.date(), utc.time()))
    )
}

/// `.f…` with trailing zeros dropped, or nothing for a whole second.
fn fraction(micros: u32) -> String {
    if micros == 0 {
        return String::new();
    }
    let digits = format!("{micros:06}");
    format!(".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(h: u8, m: u8, s: u8, micro: u32) -> Time {
        Time::from_hms_micro(h, m, s, micro).expect("a valid time")
    }

    #[test]
    fn a_fraction_of_a_second_has_as_many_digits_as_it_needs_and_none_when_whole() {
        assert_eq!(format_time(time(23, 59, 59, 0)), "23:59:59");
        assert_eq!(format_time(time(13, 45, 30, 500_000)), "13:45:30.5");
        assert_eq!(format_time(time(0, 0, 0, 50)), "00:00:00.00005");
        assert_eq!(format_time(time(13, 45, 30, 123_456)), "13:45:30.123456");
    }

    #[test]
    fn digits_beyond_microseconds_are_read_but_never_written() {
        let t = parse_time("01:02:03.123456789").expect("nine digits are read");
        assert_eq!(format_time(t), "01:02:03.123456");
    }

    #[test]
    fn every_form_written_reads_back_as_the_same_value() {
        for s in [
            "00:00:00",
            "12:34:56.5",
            "12:34:56.000001",
            "23:59:59.999999",
        ] {
            assert_eq!(format_time(parse_time(s).unwrap()), s);
        }
        for s in ["2024-02-29T03:04:05", "2024-01-02T03:04:05.000123"] {
            assert_eq!(format_timestamp(parse_timestamp(s).unwrap()), s);
        }
        assert_eq!(format_date(parse_date("0001-01-01").unwrap()), "0001-01-01");
    }

    #[test]
    fn dates_must_exist_and_be_written_in_full() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2024-02-30").is_err());
        assert!(parse_date("29/02/2024").is_err());
        assert!(parse_date("2024-2-9").is_err());
    }

    #[test]
    fn times_have_no_zone_and_at_most_24_hours() {
        assert!(parse_time("24:00:00").is_err());
        assert!(parse_time("12:00:00+01:00").is_err());
        assert!(parse_time("12:00").is_err());
    }

    #[test]
    fn a_timestamp_takes_a_t_or_a_space_between_date_and_time() {
        let with_t = parse_timestamp("2024-01-02T03:04:05").unwrap();
        let with_space = parse_timestamp("2024-01-02 03:04:05").unwrap();
        assert_eq!(with_t, with_space);
        assert!(parse_timestamp("2024-01-02T03:04:05Z").is_err());
    }

    #[test]
    fn a_timestamptz_needs_an_offset_and_comes_back_in_utc() {
        let t = parse_timestamptz("2024-02-29T13:45:30.123456+01:00").unwrap();
        assert_eq!(format_timestamptz(t), "2024-02-29T12:45:30.123456Z");
        let t = parse_timestamptz("2024-02-29T00:30:00-01:00").unwrap();
        assert_eq!(format_timestamptz(t), "2024-02-29T01:30:00Z");
        assert!(parse_timestamptz("2024-02-29T13:45:30").is_err());
    }

    #[test]
    fn plain_decimals_are_told_from_other_text() {
        for ok in [
            "0",
            "-123.4500",
            "+1",
            ".5",
            "5.",
            "12345678901234567890.000000000001",
        ] {
            assert!(is_plain_decimal(ok), "{ok}");
            assert!(parse_decimal(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-", ".", "1e5", "1.2.3", "abc", " 1", "NaN", "--1", "+-1",
        ] {
            assert!(!is_plain_decimal(bad), "{bad}");
            assert!(parse_decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_parameters_must_be_plain_numbers() {
        assert!(is_plain_decimal("-123.4500"));
        assert!(is_plain_decimal("42"));
        assert!(is_plain_decimal(".5"));
        assert!(!is_plain_decimal("1e5"));
        assert!(!is_plain_decimal("-"));
        assert!(!is_plain_decimal("1.2.3"));
    }

    #[test]
    fn temporal_parameters_parse_their_documented_forms() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2024-02-30").is_err());
        assert_eq!(format_time(parse_time("12:34:56.5").unwrap()), "12:34:56.5");
        assert_eq!(format_time(parse_time("00:00:01").unwrap()), "00:00:01");
        assert_eq!(
            format_timestamp(parse_timestamp("2024-01-02T03:04:05.000123").unwrap()),
            "2024-01-02T03:04:05.000123"
        );
        assert!(parse_timestamp("2024-01-02 03:04:05").is_ok());
    }

    #[test]
    fn a_decimal_keeps_every_digit() {
        let d = parse_decimal("12345678901234567890.000000000001").unwrap();
        assert_eq!(d.to_string(), "12345678901234567890.000000000001");
    }

    #[test]
    fn a_uuid_is_written_hyphenated_in_lower_case() {
        let u = parse_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(format_uuid(u), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert!(parse_uuid("67e55044").is_err());
    }

    #[test]
    fn a_malformed_text_names_its_case_and_the_expected_form() {
        let err = parse_date("29/02/2024").unwrap_err();
        assert_eq!(err.form, Form::Date);
        assert_eq!(
            err.to_string(),
            "\"29/02/2024\" is not a date; expected YYYY-MM-DD"
        );
    }
}
