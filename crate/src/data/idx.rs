//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type
//! byte, a dimension count, then one u32 per dimension) followed by the raw bytes. Files
//! may be gzipped; we look at the first two bytes rather than trusting the file name.
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Type byte 0x08 means unsigned bytes, the only type these datasets use.
const UBYTE: u8 = 0x08;

/// A parsed IDX file: its dimensions and its bytes, row-major.
#[derive(Debug)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads `path` (raw or gzipped) and checks that it holds `expected_rank` dimensions.
pub fn read_idx(path: &Path, expected_rank: usize) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_data(path, format!("corrupt gzip data ({e}); delete the file and download it again")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, expected_rank).map_err(|message| Error::bad_data(path, message))
}

fn parse_idx(bytes: &[u8], expected_rank: usize) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!("file is {} bytes long, too short for an IDX header", bytes.len()));
    }
    let rank = bytes[3] as usize;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != UBYTE || rank != expected_rank {
        return Err(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: expected 000008{:02x} (an IDX file of \
             unsigned bytes with {expected_rank} dimensions)",
            bytes[0], bytes[1], bytes[2], bytes[3], expected_rank
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format!("file is truncated inside its header ({} bytes)", bytes.len()));
    }
    let dims: Vec<usize> = bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected: usize = dims.iter().product();
    let data = &bytes[header..];
    if data.len() != expected {
        return Err(format!(
            "header promises {} bytes for dimensions {:?} but the file holds {} (truncated or corrupt)",
            expected,
            dims,
            data.len()
        ));
    }
    Ok(IdxArray { dims, data: data.to_vec() })
}

/// Encodes an IDX file of unsigned bytes; the tests use it to write small datasets.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_an_image_file() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let parsed = parse_idx(&encode_idx(&[2, 3, 4], &data), 3).unwrap();
        assert_eq!(parsed.dims, vec![2, 3, 4]);
        assert_eq!(parsed.data, data);
    }

    #[test]
    fn rejects_wrong_rank_and_short_files() {
        let labels = encode_idx(&[3], &[1, 2, 3]);
        assert!(parse_idx(&labels, 3).unwrap_err().contains("wrong magic number 00000801"));
        assert!(parse_idx(&labels[..2], 1).unwrap_err().contains("too short"));
        assert!(parse_idx(&labels[..6], 1).unwrap_err().contains("inside its header"));
        assert!(parse_idx(&labels[..9], 1).unwrap_err().contains("truncated or corrupt"));
    }
}
