//! The web client's files, built into the binary: the daemon serves them
//! without reading the disk, so a page is as available as the chat itself.

/// One embedded file: its type, its bytes, and a gzip copy when one is
/// shipped (served to clients whose `Accept-Encoding` allows it).
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

/// The file served at `path` (`/` is the page), if there is one.
pub fn get(path: &str) -> Option<Asset> {
    match path {
        "/" | "/index.html" => Some(Asset {
            content_type: "text/html; charset=utf-8",
            body: include_bytes!("../../web/index.html"),
            gzip: None,
        }),
        _ => None,
    }
}
