//! Reading a file that must stay small (a config, a `tokenizer.json`), with the size capped
//! before and during the read.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// The bytes of the regular file at `path`, if it holds at most `limit` bytes. `what` names the
/// file in messages ("config file"); a file over the limit fails with `over_limit`, its message
/// ending in `setting` (the key that sets the limit, with its leading space and parentheses, or
/// ""). Other failures are `Io`.
pub(crate) fn read_capped(
    path: &Path,
    what: &str,
    limit: u64,
    over_limit: ErrorKind,
    setting: &str,
) -> Result<Vec<u8>> {
    let io_err = |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot read {what} {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Io, format!("{what} {} is not a regular file", path.display())));
    }
    if meta.len() > limit {
        return Err(Error::new(
            over_limit,
            format!("{what} {} is {} bytes; the limit is {limit}{setting}", path.display(), meta.len()),
        ));
    }
    // The size in the metadata can lie (files under /proc report 0 and stream without end; a
    // file may grow while it is read), so the read itself stops one byte past the limit.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| std::io::Read::read_to_end(&mut std::io::Read::take(file, limit + 1), &mut bytes))
        .map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            over_limit,
            format!("{what} {} is larger than the limit of {limit} bytes{setting}", path.display()),
        ));
    }
    Ok(bytes)
}
