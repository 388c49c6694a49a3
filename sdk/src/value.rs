//! SQL values and the conversions that make parameters easy to write.

/// One SQL value, as a parameter or as a column of a result row.
///
/// Beyond the six core cases, dates, times, decimals, JSON and UUIDs travel
/// as text in a tagged case so that the host binds the right native type;
/// the WIT contract documents each text form. SQLite has no such types and
/// returns them as [`Value::Text`].
///
/// Most Rust values convert with `From`, which is what [`params!`](crate::params) uses:
///
/// ```no_run
/// use aludel_sdk::Value;
///
/// let nickname: Option<&str> = None;
/// let params: Vec<Value> = aludel_sdk::params![42, "alice", nickname, 1.5, true];
/// let created = Value::Timestamptz("2024-01-01T00:00:00Z".into());
/// ```
pub use crate::bindings::aludel::migration::types::Value;

impl Value {
    /// The name of this value's case, for messages: `"integer"`, `"text"`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::Timestamptz(_) => "timestamptz",
            Value::Decimal(_) => "decimal",
            Value::Json(_) => "json",
            Value::Uuid(_) => "uuid",
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

macro_rules! integer_from {
    ($($t:ty),*) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Integer(i64::from(v))
            }
        })*
    };
}

integer_from!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl From<&Value> for Value {
    fn from(v: &Value) -> Self {
        v.clone()
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a `Vec<Value>` of statement parameters, converting each
/// expression with [`Value::from`].
///
/// ```no_run
/// # fn main() -> aludel_sdk::Result<()> {
/// let id = 7_i64;
/// aludel_sdk::db::execute("UPDATE users SET name = ? WHERE id = ?", &aludel_sdk::params!["bob", id])?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! params {
    () => {
        ::std::vec::Vec::<$crate::Value>::new()
    };
    ($($value:expr),+ $(,)?) => {
        ::std::vec![$($crate::Value::from($value)),+]
    };
}
