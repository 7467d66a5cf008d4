//! File writes that never leave a half-written document: write a sibling temporary file, flush
//! it to disk, then rename it over the original (atomic on POSIX file systems).

use std::io::Write;
use std::path::Path;

use crate::{EngineError, Result};

pub fn atomic_write(path: &Path, content: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.evident-tmp-{}", std::process::id()));
    let shown = path.display().to_string();
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(EngineError::io("cannot write", shown, e));
    }
    Ok(())
}
