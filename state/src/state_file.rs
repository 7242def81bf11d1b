//! The keyed-state file: one Arrow IPC file per operator and subtask of a
//! checkpoint, its rows sorted by key group, with a CRC-32 kept in the
//! manifest so that a damaged file is detected before it is restored.

use std::io::Cursor;

use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;

use crate::error::{Result, StateError};

/// An encoded state file and its checksum.
pub struct EncodedState {
    /// The file's bytes.
    pub bytes: Bytes,
    /// CRC-32 of `bytes`.
    pub crc32: u32,
}

/// Encodes a snapshot batch as an Arrow IPC file.
pub fn encode(batch: &RecordBatch) -> Result<EncodedState> {
    let mut buffer = Vec::new();
    {
        let mut writer = FileWriter::try_new(&mut buffer, batch.schema_ref())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    let crc32 = crc32fast::hash(&buffer);
    Ok(EncodedState {
        bytes: Bytes::from(buffer),
        crc32,
    })
}

/// Decodes a state file read from `path`, checking it against `crc32`.
pub fn decode(bytes: Bytes, crc32: u32, path: &str) -> Result<Vec<RecordBatch>> {
    let actual = crc32fast::hash(&bytes);
    if actual != crc32 {
        return Err(StateError::Corrupt {
            path: path.to_string(),
            reason: format!("checksum {actual:08x}, expected {crc32:08x}"),
        });
    }
    let corrupt = |e: arrow::error::ArrowError| StateError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
    };
    let reader = FileReader::try_new(Cursor::new(bytes), None).map_err(corrupt)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("_key_group", DataType::UInt32, false),
            Field::new("v", DataType::Int64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt32Array::from(vec![1, 5, 9])),
                Arc::new(Int64Array::from(vec![Some(10), None, Some(-3)])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn a_file_decodes_to_what_was_encoded() {
        let encoded = encode(&batch()).expect("encode");
        let decoded = decode(encoded.bytes, encoded.crc32, "f").expect("decode");
        assert_eq!(decoded, vec![batch()]);
    }

    #[test]
    fn a_flipped_byte_is_reported_with_the_file_name() {
        let encoded = encode(&batch()).expect("encode");
        let mut damaged = encoded.bytes.to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        let error = decode(Bytes::from(damaged), encoded.crc32, "s3://b/chk-3/x.arrow")
            .expect_err("damage is detected");
        let message = error.to_string();
        assert!(
            message.contains("s3://b/chk-3/x.arrow is corrupt"),
            "{message}"
        );
    }
}
