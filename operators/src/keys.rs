//! Key hashing and key groups: the one function that decides which subtask
//! owns a key, the same on every node and in every build.
//!
//! Values are hashed by their logical content (little-endian bytes of
//! numbers, UTF-8 bytes of strings) with XXH3, so the assignment survives
//! upgrades and differs in no way between machines. A key's hash picks its key
//! group (`hash % max_parallelism`); a subtask owns a contiguous range of key
//! groups, as in Flink.

use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{Result, StreamError};

/// Default number of key groups (Flink's `pipeline.max-parallelism` default).
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// Seed mixed in for a NULL key value, so NULL differs from every value.
const NULL_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes the key formed by `columns` for each of `num_rows` rows.
pub fn hash_keys(columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u64>> {
    let mut hashes = vec![0u64; num_rows];
    for column in columns {
        hash_column(column.as_ref(), &mut hashes)?;
    }
    Ok(hashes)
}

/// The key group of a key hash.
pub fn key_group(hash: u64, max_parallelism: u32) -> u32 {
    (hash % u64::from(max_parallelism)) as u32
}

/// The subtask that owns `key_group` when `max_parallelism` key groups are
/// spread over `parallelism` subtasks (Flink's contiguous ranges).
pub fn subtask_for_key_group(key_group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism)) as u32
}

/// The key groups subtask `subtask` of `parallelism` owns: the contiguous
/// range whose members [`subtask_for_key_group`] maps to it.
pub fn key_group_range(subtask: u32, max_parallelism: u32, parallelism: u32) -> Range<u32> {
    let bound = |s: u32| {
        (u64::from(s) * u64::from(max_parallelism)).div_ceil(u64::from(parallelism)) as u32
    };
    bound(subtask)..bound(subtask + 1)
}

fn mix_each(
    array: &dyn Array,
    hashes: &mut [u64],
    bytes_of: impl Fn(usize, &mut dyn FnMut(&[u8])),
) {
    for (i, hash) in hashes.iter_mut().enumerate() {
        if array.is_null(i) {
            *hash = xxh3_64_with_seed(&[], *hash ^ NULL_SEED);
        } else {
            bytes_of(i, &mut |bytes| *hash = xxh3_64_with_seed(bytes, *hash));
        }
    }
}

macro_rules! mix_primitive {
    ($array:expr, $hashes:expr, $ty:ty) => {{
        let values = $array.as_primitive::<$ty>();
        mix_each($array, $hashes, |i, f| f(&values.value(i).to_le_bytes()))
    }};
}

fn hash_column(array: &dyn Array, hashes: &mut [u64]) -> Result<()> {
    match array.data_type() {
        DataType::Boolean => {
            let values = array.as_boolean();
            mix_each(array, hashes, |i, f| f(&[u8::from(values.value(i))]))
        }
        DataType::Int8 => mix_primitive!(array, hashes, Int8Type),
        DataType::Int16 => mix_primitive!(array, hashes, Int16Type),
        DataType::Int32 => mix_primitive!(array, hashes, Int32Type),
        DataType::Int64 => mix_primitive!(array, hashes, Int64Type),
        DataType::UInt8 => mix_primitive!(array, hashes, UInt8Type),
        DataType::UInt16 => mix_primitive!(array, hashes, UInt16Type),
        DataType::UInt32 => mix_primitive!(array, hashes, UInt32Type),
        DataType::UInt64 => mix_primitive!(array, hashes, UInt64Type),
        DataType::Float32 => mix_primitive!(array, hashes, Float32Type),
        DataType::Float64 => mix_primitive!(array, hashes, Float64Type),
        DataType::Decimal128(_, _) => mix_primitive!(array, hashes, Decimal128Type),
        DataType::Date32 => mix_primitive!(array, hashes, Date32Type),
        DataType::Date64 => mix_primitive!(array, hashes, Date64Type),
        DataType::Timestamp(TimeUnit::Second, _) => {
            mix_primitive!(array, hashes, TimestampSecondType)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            mix_primitive!(array, hashes, TimestampMillisecondType)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            mix_primitive!(array, hashes, TimestampMicrosecondType)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            mix_primitive!(array, hashes, TimestampNanosecondType)
        }
        DataType::Utf8 => {
            let values = array.as_string::<i32>();
            mix_each(array, hashes, |i, f| f(values.value(i).as_bytes()))
        }
        DataType::LargeUtf8 => {
            let values = array.as_string::<i64>();
            mix_each(array, hashes, |i, f| f(values.value(i).as_bytes()))
        }
        DataType::Utf8View => {
            let values = array.as_string_view();
            mix_each(array, hashes, |i, f| f(values.value(i).as_bytes()))
        }
        DataType::Binary => {
            let values = array.as_binary::<i32>();
            mix_each(array, hashes, |i, f| f(values.value(i)))
        }
        other => {
            return Err(StreamError::Failed(format!(
                "a key of type {other} cannot be hashed; cast it to STRING or a number"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array, StringArray, StringViewArray};

    use super::*;

    #[test]
    fn key_group_ranges_partition_all_groups_as_the_owner_function_does() {
        for (max, parallelism) in [(128, 1), (128, 3), (128, 128), (7, 4), (128, 5)] {
            let mut next = 0;
            for subtask in 0..parallelism {
                let range = key_group_range(subtask, max, parallelism);
                assert_eq!(range.start, next, "ranges are contiguous");
                for group in range.clone() {
                    assert_eq!(subtask_for_key_group(group, max, parallelism), subtask);
                }
                next = range.end;
            }
            assert_eq!(next, max, "every key group is owned");
        }
    }

    #[test]
    fn equal_strings_hash_equal_whatever_their_encoding() {
        let utf8: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("key")]));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a"), None, Some("key")]));
        assert_eq!(
            hash_keys(&[utf8], 3).unwrap(),
            hash_keys(&[view], 3).unwrap()
        );
    }

    #[test]
    fn null_differs_from_zero_and_column_order_matters() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(0), None]));
        let h = hash_keys(&[a], 2).unwrap();
        assert_ne!(h[0], h[1]);
        let x: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        let y: ArrayRef = Arc::new(Int32Array::from(vec![2]));
        assert_ne!(
            hash_keys(&[x.clone(), y.clone()], 1).unwrap(),
            hash_keys(&[y, x], 1).unwrap()
        );
    }

    #[test]
    fn key_groups_map_to_contiguous_subtask_ranges() {
        let owners: Vec<u32> = (0..128)
            .map(|kg| subtask_for_key_group(kg, 128, 3))
            .collect();
        assert!(owners.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(owners[0], 0);
        assert_eq!(owners[127], 2);
        for s in 0..3 {
            let n = owners.iter().filter(|&&o| o == s).count();
            assert!((42..=43).contains(&n), "subtask {s} owns {n} key groups");
        }
    }
}
