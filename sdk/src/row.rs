//! Result rows and typed access to their columns.

use std::sync::Arc;

use crate::{Error, Result, Value};

/// The rows of one result, with their column names.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    columns: Arc<[String]>,
    rows: Vec<Row>,
}

impl Rows {
    pub(crate) fn new(columns: Arc<[String]>, rows: Vec<Vec<Value>>) -> Self {
        let rows = rows
            .into_iter()
            .map(|values| Row::new(Arc::clone(&columns), values))
            .collect();
        Self { columns, rows }
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Row> {
        self.rows.get(index)
    }

    /// The first row, if there is one: handy for `SELECT COUNT(*)`.
    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }

    /// The rows, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Row> {
        self.rows.iter()
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

/// One result row. Read a column by name or by position:
///
/// ```no_run
/// # fn main() -> aludel_sdk::Result<()> {
/// for row in &aludel_sdk::db::query("SELECT id, name, email FROM users", &[])? {
///     let id: i64 = row.get("id")?;
///     let name = row.get::<String>(1)?;
///     let email: Option<String> = row.get("email")?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The value of a column converted to `T`; an error names the column
    /// and the value's actual type when the column does not exist or the
    /// value does not convert.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T> {
        let index = column.index(&self.columns)?;
        let name = self.columns.get(index).map_or("?", String::as_str);
        // The host sends as many values as columns; a short row is its bug,
        // reported rather than panicking inside the guest.
        let value = self.values.get(index).ok_or_else(|| {
            Error::msg(format!(
                "column {name:?} (#{index}): the row has no value for it"
            ))
        })?;
        T::from_value(value).map_err(|e| e.context(format_args!("column {name:?} (#{index})")))
    }

    /// The raw value of a column, if the column exists.
    pub fn value(&self, column: impl ColumnIndex) -> Option<&Value> {
        let index = column.index(&self.columns).ok()?;
        self.values.get(index)
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, in column order, taken out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A way to name a column: its name (`&str`) or its position (`usize`).
pub trait ColumnIndex {
    /// The position of the column in `columns`.
    fn index(&self, columns: &[String]) -> Result<usize>;
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[String]) -> Result<usize> {
        columns.iter().position(|c| c == self).ok_or_else(|| {
            Error::msg(format!(
                "no column named {self:?}; the result has {columns:?}"
            ))
        })
    }
}

impl ColumnIndex for &String {
    fn index(&self, columns: &[String]) -> Result<usize> {
        self.as_str().index(columns)
    }
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[String]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::msg(format!(
                "no column #{self}; the result has {} columns {columns:?}",
                columns.len()
            )))
        }
    }
}

/// A Rust type a [`Value`] converts into, for [`Row::get`].
///
/// Conversions are strict except where a database has no native type:
/// SQLite stores booleans as integers, so `bool` also reads `0` and `1`,
/// and the tagged text cases (dates, decimals, JSON, ...) read as `String`.
/// `Option<T>` reads `NULL` as `None`; every other type refuses `NULL`.
pub trait FromValue: Sized {
    /// Converts `value`, or says why it cannot.
    fn from_value(value: &Value) -> Result<Self>;
}

fn mismatch(expected: &str, value: &Value) -> Error {
    Error::msg(format!("cannot read {} as {expected}", value.kind()))
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(v) => Ok(*v),
            other => Err(mismatch("i64", other)),
        }
    }
}

macro_rules! narrow_integer {
    ($($t:ty),*) => {
        $(impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                match value {
                    Value::Integer(v) => <$t>::try_from(*v).map_err(|_| {
                        Error::msg(format!(
                            "integer {v} does not fit in {}",
                            stringify!($t)
                        ))
                    }),
                    other => Err(mismatch(stringify!($t), other)),
                }
            }
        })*
    };
}

narrow_integer!(i32, u32, u64, usize);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Float(v) => Ok(*v),
            // Integral floats come back as integers from SQLite's REAL
            // affinity rules and from `SUM` over integers.
            Value::Integer(v) => Ok(*v as f64),
            other => Err(mismatch("f64", other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Boolean(v) => Ok(*v),
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            Value::Integer(v) => Err(Error::msg(format!(
                "cannot read integer {v} as bool (only 0 and 1)"
            ))),
            other => Err(mismatch("bool", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s)
            | Value::Decimal(s)
            | Value::Json(s)
            | Value::Uuid(s) => Ok(s.clone()),
            other => Err(mismatch("String", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(mismatch("Vec<u8>", other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let columns: Arc<[String]> =
            vec!["id".to_owned(), "name".to_owned(), "flag".to_owned()].into();
        Row::new(
            columns,
            vec![Value::Integer(7), Value::Null, Value::Integer(1)],
        )
    }

    #[test]
    fn reads_columns_by_name_and_position() {
        let row = row();
        assert_eq!(row.get::<i64>("id").ok(), Some(7));
        assert_eq!(row.get::<u32>(0).ok(), Some(7));
        assert_eq!(row.get::<Option<String>>("name").ok(), Some(None));
        assert_eq!(row.get::<bool>("flag").ok(), Some(true));
        assert_eq!(row.get::<f64>("id").ok(), Some(7.0));
    }

    #[test]
    fn a_failed_conversion_names_the_column_and_the_actual_type() {
        let err = row().get::<String>("id").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("column \"id\" (#0): cannot read integer as String")
        );
        let err = row().get::<String>("name").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("column \"name\" (#1): cannot read null as String")
        );
    }

    #[test]
    fn a_missing_column_lists_the_columns_there_are() {
        let err = row().get::<i64>("nope").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("no column named \"nope\"; the result has [\"id\", \"name\", \"flag\"]")
        );
        assert!(row().get::<i64>(3).is_err());
    }
}
