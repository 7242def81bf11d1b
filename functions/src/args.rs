//! What every function here shares: Flink-style argument checking whose
//! errors name the function and what it takes, arguments cast to one Arrow
//! type per kind before evaluation, and the "NULL in, NULL out" row loop.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion_common::cast::{as_int64_array, as_string_array};
use datafusion_common::{Result, ScalarValue, internal_datafusion_err, internal_err, plan_err};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

/// What one argument of a function must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A character string, passed on as `Utf8`.
    String,
    /// An integer, passed on as `Int64`.
    Integer,
    /// An integer, a floating-point number or a DECIMAL, passed on unchanged.
    Numeric,
    /// A TIMESTAMP, TIMESTAMP_LTZ or DATE, passed on unchanged.
    Temporal,
    /// A time unit such as `DAY`: a string literal, as the SQL rewrite writes it.
    Unit,
}

impl Kind {
    fn accepts(self, data_type: &DataType) -> bool {
        use DataType as T;
        match self {
            Kind::String | Kind::Unit => {
                matches!(data_type, T::Null | T::Utf8 | T::LargeUtf8 | T::Utf8View)
            }
            Kind::Integer => data_type.is_null() || data_type.is_signed_integer(),
            Kind::Numeric => {
                data_type.is_signed_integer()
                    || matches!(data_type, T::Float32 | T::Float64 | T::Decimal128(_, _))
            }
            Kind::Temporal => matches!(data_type, T::Null | T::Timestamp(_, _) | T::Date32),
        }
    }

    /// The type an argument of this kind is cast to before evaluation.
    fn evaluated_as(self, data_type: &DataType) -> DataType {
        match self {
            Kind::String | Kind::Unit => DataType::Utf8,
            Kind::Integer => DataType::Int64,
            Kind::Temporal if data_type.is_null() => {
                DataType::Timestamp(TimeUnit::Millisecond, None)
            }
            Kind::Numeric | Kind::Temporal => data_type.clone(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::String => "STRING",
            Kind::Integer => "INT",
            Kind::Numeric => "NUMERIC",
            Kind::Temporal => "TIMESTAMP|DATE",
            Kind::Unit => "unit",
        }
    }
}

/// A Flink scalar function: its names, the argument lists it takes, its
/// result type and its evaluation. [`udf`] makes it a DataFusion UDF.
pub(super) trait Function: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The name it is registered under, in lower case: DataFusion
    /// lower-cases unquoted function names whatever the identifier
    /// normalization setting, so `UPPER(x)` finds `upper`.
    fn name(&self) -> &'static str;

    /// Other names it answers to.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The name error messages use, as Flink's documentation writes it.
    fn display(&self) -> &'static str;

    /// The argument lists it takes.
    fn signatures(&self) -> &'static [&'static [Kind]];

    /// Whether the last argument of a signature may repeat.
    fn variadic(&self) -> bool {
        false
    }

    /// `Volatile` for functions of the clock, so that DataFusion evaluates
    /// them for each batch instead of folding them into a constant when it
    /// plans.
    fn volatility(&self) -> Volatility {
        Volatility::Immutable
    }

    /// The result type of a call whose arguments match a signature; literal
    /// arguments (formats, paths, units) are validated here.
    fn return_type(&self, call: &Call<'_>) -> Result<DataType>;

    /// Evaluates the function over a batch.
    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue>;
}

/// A call being planned: its argument types and literals.
pub(super) struct Call<'a> {
    /// The argument types as written.
    pub types: &'a [DataType],
    literals: &'a [Option<&'a ScalarValue>],
}

impl Call<'_> {
    /// The text of argument `i` when it is a non-NULL string literal.
    pub fn literal_str(&self, i: usize) -> Option<&str> {
        match self.literals.get(i).copied().flatten()? {
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                s.as_deref()
            }
            _ => None,
        }
    }

    /// The value of argument `i` when it is a non-NULL integer literal.
    pub fn literal_i64(&self, i: usize) -> Option<i64> {
        match self.literals.get(i).copied().flatten()? {
            ScalarValue::Int8(v) => v.map(i64::from),
            ScalarValue::Int16(v) => v.map(i64::from),
            ScalarValue::Int32(v) => v.map(i64::from),
            ScalarValue::Int64(v) => *v,
            _ => None,
        }
    }
}

/// A batch a function evaluates.
pub(super) struct Input<'a> {
    /// The arguments as given: a literal is a scalar.
    pub values: &'a [ColumnarValue],
    /// The arguments, each cast to the type its kind is evaluated as and
    /// `rows` long.
    pub arrays: Vec<ArrayRef>,
    /// The signature the arguments matched.
    pub signature: &'static [Kind],
    /// The number of rows.
    pub rows: usize,
    /// The result type [`Function::return_type`] chose.
    pub return_type: &'a DataType,
}

impl Input<'_> {
    /// Argument `i`.
    pub fn array(&self, i: usize) -> Result<&ArrayRef> {
        self.arrays
            .get(i)
            .ok_or_else(|| internal_datafusion_err!("argument {i} is missing"))
    }

    /// Argument `i`, a [`Kind::String`].
    pub fn strings(&self, i: usize) -> Result<&StringArray> {
        as_string_array(self.array(i)?)
    }

    /// Argument `i`, a [`Kind::Integer`].
    pub fn integers(&self, i: usize) -> Result<&Int64Array> {
        as_int64_array(self.array(i)?)
    }

    /// The time unit literal in argument `i`, a [`Kind::Unit`].
    pub fn unit(&self, i: usize) -> Result<&str> {
        match self.values.get(i) {
            Some(ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(unit))
                | ScalarValue::LargeUtf8(Some(unit))
                | ScalarValue::Utf8View(Some(unit)),
            )) => Ok(unit),
            _ => internal_err!("the unit argument is not a literal"),
        }
    }

    /// Flink's "NULL in, NULL out": a row with a NULL argument is NULL;
    /// any other row is `f(row)`, where `None` is NULL too.
    pub fn map_rows<A, T>(&self, mut f: impl FnMut(usize) -> Option<T>) -> A
    where
        A: FromIterator<Option<T>>,
    {
        (0..self.rows)
            .map(|row| {
                if self.arrays.iter().any(|a| a.is_null(row)) {
                    None
                } else {
                    f(row)
                }
            })
            .collect()
    }
}

/// An array as a function result.
pub(super) fn column(array: impl Array + 'static) -> Result<ColumnarValue> {
    Ok(ColumnarValue::Array(Arc::new(array)))
}

/// Remembers the last text compiled and its outcome, so that a format,
/// path or pattern given as a literal is compiled once per batch.
pub(super) struct Compiled<T> {
    last: Option<(String, Option<T>)>,
}

impl<T> Default for Compiled<T> {
    fn default() -> Self {
        Compiled { last: None }
    }
}

impl<T> Compiled<T> {
    /// What `text` compiles to; `None` when it does not compile.
    pub fn get(&mut self, text: &str, compile: impl FnOnce(&str) -> Option<T>) -> Option<&T> {
        if !matches!(&self.last, Some((last, _)) if last == text) {
            self.last = Some((text.to_string(), compile(text)));
        }
        self.last
            .as_ref()
            .and_then(|(_, compiled)| compiled.as_ref())
    }
}

/// A [`Function`] as a DataFusion scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Udf<F> {
    function: F,
    signature: Signature,
    aliases: Vec<String>,
}

/// Wraps a [`Function`] as a DataFusion UDF. DataFusion accepts any
/// arguments; the function's own signatures are checked when the call's
/// type is derived, so mismatches read as Flink's do.
pub(super) fn udf<F: Function>(function: F) -> Arc<ScalarUDF> {
    let signature = Signature::one_of(
        vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
        function.volatility(),
    );
    let aliases = function.aliases().iter().map(|a| a.to_string()).collect();
    Arc::new(ScalarUDF::new_from_impl(Udf {
        function,
        signature,
        aliases,
    }))
}

impl<F: Function> Udf<F> {
    /// The signature `types` match, or an error naming the function and
    /// what it takes.
    fn matching(&self, types: &[DataType]) -> Result<&'static [Kind]> {
        let function = &self.function;
        let matches = |signature: &[Kind]| {
            let count_fits = if function.variadic() {
                types.len() >= signature.len()
            } else {
                types.len() == signature.len()
            };
            count_fits
                && types.iter().enumerate().all(|(i, t)| {
                    signature
                        .get(i)
                        .or(signature.last())
                        .is_some_and(|kind| kind.accepts(t))
                })
        };
        if let Some(signature) = function.signatures().iter().find(|s| matches(s)) {
            return Ok(signature);
        }
        let expected: Vec<String> = function
            .signatures()
            .iter()
            .map(|signature| {
                let mut kinds: Vec<&str> = signature.iter().map(|k| k.describe()).collect();
                if function.variadic() {
                    kinds.push("...");
                }
                format!("{}({})", function.display(), kinds.join(", "))
            })
            .collect();
        let given: Vec<String> = types.iter().map(sql_type).collect();
        plan_err!(
            "cannot call {}({}); expected {}",
            function.display(),
            given.join(", "),
            expected.join(" or ")
        )
    }
}

impl<F: Function> ScalarUDFImpl for Udf<F> {
    fn name(&self) -> &str {
        self.function.name()
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        internal_err!(
            "{} derives its type in return_field_from_args",
            self.function.display()
        )
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.matching(&types)?;
        let call = Call {
            types: &types,
            literals: args.scalar_arguments,
        };
        let data_type = self.function.return_type(&call)?;
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let signature = self.matching(&types)?;
        let arrays = args
            .args
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let array = value.to_array(args.number_rows)?;
                let kind = signature.get(i).or(signature.last()).copied();
                match kind.map(|k| k.evaluated_as(array.data_type())) {
                    Some(target) if &target != array.data_type() => Ok(cast(&array, &target)?),
                    _ => Ok(array),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.function.invoke(&Input {
            values: &args.args,
            arrays,
            signature,
            rows: args.number_rows,
            return_type: args.return_type(),
        })
    }
}

/// A type as Flink SQL names it, for error messages.
fn sql_type(data_type: &DataType) -> String {
    use DataType as T;
    match data_type {
        T::Null => "NULL".into(),
        T::Boolean => "BOOLEAN".into(),
        T::Int8 => "TINYINT".into(),
        T::Int16 => "SMALLINT".into(),
        T::Int32 => "INT".into(),
        T::Int64 => "BIGINT".into(),
        T::Float32 => "FLOAT".into(),
        T::Float64 => "DOUBLE".into(),
        T::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "STRING".into(),
        T::Binary | T::LargeBinary | T::BinaryView => "BYTES".into(),
        T::Date32 => "DATE".into(),
        T::Timestamp(_, None) => "TIMESTAMP".into(),
        T::Timestamp(_, Some(_)) => "TIMESTAMP_LTZ".into(),
        other => other.to_string(),
    }
}
