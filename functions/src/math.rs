//! `ROUND(x [, d])` as Flink computes it: half away from zero on the
//! decimal value (for a DOUBLE, its shortest decimal representation, as
//! Java's `BigDecimal.valueOf` gives it), keeping the type of `x`; a
//! DECIMAL(p, s) becomes DECIMAL(p - s + d + 1, d) for 0 <= d < s.

use std::sync::Arc;

use arrow::array::{
    Array, ArrowPrimitiveType, AsArray, Decimal128Array, Float32Array, Float64Array, PrimitiveArray,
};
use arrow::datatypes::{DataType, Decimal128Type, Int8Type, Int16Type, Int32Type, Int64Type};
use datafusion_common::{Result, internal_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarUDF};

use super::args::{Call, Function, Input, Kind, column, udf};

/// The math functions defined here.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![udf(Round)]
}

const MAX_DECIMAL_PRECISION: u8 = 38;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Round;

impl Function for Round {
    fn name(&self) -> &'static str {
        "round"
    }

    fn display(&self) -> &'static str {
        "ROUND"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::Numeric], &[Kind::Numeric, Kind::Integer]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        match &call.types[0] {
            DataType::Decimal128(precision, scale) => {
                let places = if call.types.len() == 1 {
                    Some(0)
                } else {
                    call.literal_i64(1)
                };
                match places {
                    Some(places) => Ok(rounded_decimal_type(*precision, *scale, places)),
                    None => plan_err!(
                        "ROUND of a DECIMAL needs the number of decimal places as a literal"
                    ),
                }
            }
            other => Ok(other.clone()),
        }
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let places = input
            .signature
            .get(1)
            .map(|_| input.integers(1))
            .transpose()?;
        let places = |row: usize| places.map_or(0, |p| p.value(row));
        let values = input.array(0)?;
        match values.data_type() {
            DataType::Int8 => column(round_integers::<Int8Type>(input, places)?),
            DataType::Int16 => column(round_integers::<Int16Type>(input, places)?),
            DataType::Int32 => column(round_integers::<Int32Type>(input, places)?),
            DataType::Int64 => column(round_integers::<Int64Type>(input, places)?),
            DataType::Float64 => {
                let values = values.as_primitive::<arrow::datatypes::Float64Type>();
                let out: Float64Array =
                    input.map_rows(|row| Some(round_double(values.value(row), places(row))));
                column(out)
            }
            DataType::Float32 => {
                let values = values.as_primitive::<arrow::datatypes::Float32Type>();
                let out: Float32Array = input.map_rows(|row| {
                    Some(round_double(f64::from(values.value(row)), places(row)) as f32)
                });
                column(out)
            }
            DataType::Decimal128(_, scale) => {
                let DataType::Decimal128(precision, result_scale) = input.return_type else {
                    return internal_err!("ROUND of a DECIMAL is a DECIMAL");
                };
                let values = values.as_primitive::<Decimal128Type>();
                let out: Decimal128Array = input.map_rows(|row| {
                    round_decimal(
                        values.value(row),
                        *scale,
                        i64::from(*result_scale),
                        places(row),
                    )
                });
                column(out.with_precision_and_scale(*precision, *result_scale)?)
            }
            other => internal_err!("ROUND of {other}"),
        }
    }
}

/// Flink's result type of ROUND(DECIMAL(p, s), d).
fn rounded_decimal_type(precision: u8, scale: i8, places: i64) -> DataType {
    let (p, s) = (i64::from(precision), i64::from(scale));
    let (precision, scale) = if places >= s {
        (p, s)
    } else if places < 0 {
        (1 + p - s, 0)
    } else {
        (1 + p - s + places, places)
    };
    let precision = u8::try_from(precision.clamp(1, i64::from(MAX_DECIMAL_PRECISION)))
        .unwrap_or(MAX_DECIMAL_PRECISION);
    DataType::Decimal128(precision, i8::try_from(scale).unwrap_or(0))
}

fn round_integers<T>(input: &Input<'_>, places: impl Fn(usize) -> i64) -> Result<PrimitiveArray<T>>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64> + TryFrom<i64>,
{
    let values = input.array(0)?.as_primitive::<T>();
    Ok(input.map_rows(|row| {
        let rounded = round_decimal(i128::from(values.value(row).into()), 0, 0, places(row))?;
        T::Native::try_from(i64::try_from(rounded).ok()?).ok()
    }))
}

/// Rounds the decimal `value` × 10^-`scale` half away from zero to
/// `places` decimal places, as a value of scale `result_scale`; `None` on
/// overflow.
fn round_decimal(value: i128, scale: i8, result_scale: i64, places: i64) -> Option<i128> {
    let scale = i64::from(scale);
    let rounded = if places >= scale {
        value
    } else {
        let Some(factor) = pow10(scale - places) else {
            return Some(0);
        };
        let (quotient, remainder) = (value / factor, value % factor);
        if remainder.abs() >= factor - remainder.abs() {
            quotient + value.signum()
        } else {
            quotient
        }
    };
    // `rounded` has scale min(places, scale); rescale to the result's.
    let from = places.min(scale);
    if result_scale >= from {
        rounded.checked_mul(pow10(result_scale - from)?)
    } else {
        Some(rounded / pow10(from - result_scale)?)
    }
}

fn pow10(exponent: i64) -> Option<i128> {
    10i128.checked_pow(u32::try_from(exponent).ok()?)
}

/// Rounds a DOUBLE as `BigDecimal.valueOf(value).setScale(places, HALF_UP)`:
/// on its shortest decimal representation, so 2.675 rounds to 2.68.
fn round_double(value: f64, places: i64) -> f64 {
    if !value.is_finite() {
        return value;
    }
    // "d.ddde±x": digits d.ddd × 10^x
    let text = format!("{:e}", value.abs());
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return value;
    };
    let Ok(exponent) = exponent.parse::<i64>() else {
        return value;
    };
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The digits kept are those before 10^-places.
    let Ok(keep) = usize::try_from(exponent + 1 + places) else {
        return 0.0;
    };
    if keep >= digits.len() {
        return value;
    }
    let mut kept: Vec<u8> = digits[..keep].to_vec();
    if digits[keep] >= 5 {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    if kept.iter().all(|d| *d == 0) {
        return 0.0;
    }
    let text: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
    let magnitude: f64 = format!("{text}e{}", -places).parse().unwrap_or(value.abs());
    magnitude.copysign(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_round_half_up_on_their_decimal_digits() {
        assert_eq!(round_double(2.675, 2), 2.68);
        assert_eq!(round_double(-2.675, 2), -2.68);
        assert_eq!(round_double(2.5, 0), 3.0);
        assert_eq!(round_double(-2.5, 0), -3.0);
        assert_eq!(round_double(0.125, 2), 0.13);
        assert_eq!(round_double(9.995, 2), 10.0);
        assert_eq!(round_double(1234.5678, -2), 1200.0);
        assert_eq!(round_double(0.004, 2), 0.0);
        assert_eq!(round_double(0.4, -1), 0.0);
        assert_eq!(round_double(5.0, -1), 10.0);
        assert_eq!(round_double(1.5e-7, 7), 2e-7);
        assert_eq!(round_double(1.23456, 10), 1.23456);
    }

    #[test]
    fn decimals_round_half_up() {
        // 1.2345 at scale 4
        assert_eq!(round_decimal(12345, 4, 2, 2), Some(123));
        assert_eq!(round_decimal(12355, 4, 3, 3), Some(1236));
        assert_eq!(round_decimal(-12350, 4, 2, 2), Some(-124));
        assert_eq!(round_decimal(12345, 4, 4, 6), Some(12345));
        // 1250 at scale 0 to tens, then hundreds
        assert_eq!(round_decimal(1250, 0, 0, -1), Some(1250));
        assert_eq!(round_decimal(1250, 0, 0, -2), Some(1300));
        assert_eq!(round_decimal(-1249, 0, 0, -2), Some(-1200));
        assert_eq!(rounded_decimal_type(10, 4, 2), DataType::Decimal128(9, 2));
        assert_eq!(rounded_decimal_type(10, 4, 6), DataType::Decimal128(10, 4));
        assert_eq!(rounded_decimal_type(10, 4, -1), DataType::Decimal128(7, 0));
    }
}
