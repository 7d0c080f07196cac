//! The web client's files (`web/` at the top of the repository), built
//! into the binary: one row per file, with its gzip-compressed form made by
//! build.rs (see `web_assets` there).

/// One file as served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// `body` gzip-compressed, for a client that accepts it.
    pub gzip: Option<&'static [u8]>,
}

/// Embeds `web/$file` and its `.gz` from OUT_DIR.
macro_rules! file {
    ($file:literal) => {
        (
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $file)).as_slice(),
            include_bytes!(concat!(env!("OUT_DIR"), "/web/", $file, ".gz")).as_slice(),
        )
    };
}

/// A file's bytes and their gzip-compressed form.
type Bytes = (&'static [u8], &'static [u8]);

/// (path, content type, (body, gzip)). build.rs compresses every file in
/// web/; a new file is one row here.
const ASSETS: &[(&str, &str, Bytes)] = &[
    ("/", "text/html; charset=utf-8", file!("index.html")),
    (
        "/index.html",
        "text/html; charset=utf-8",
        file!("index.html"),
    ),
    ("/app.js", "text/javascript; charset=utf-8", file!("app.js")),
    ("/irc.js", "text/javascript; charset=utf-8", file!("irc.js")),
    ("/style.css", "text/css; charset=utf-8", file!("style.css")),
];

/// The file served at `path` (`/`, `/app.js`, …; a query string is ignored).
pub fn get(path: &str) -> Option<Asset> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|&(_, content_type, (body, gzip))| Asset {
            content_type,
            body,
            gzip: Some(gzip),
        })
}

/// Every path served, for tests and listings.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(p, _, _)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_page_and_its_files_are_served() {
        let page = get("/").expect("/");
        assert!(page.content_type.starts_with("text/html"));
        assert_eq!(get("/index.html"), Some(page));
        assert!(get("/app.js?v=1").is_some());
        assert!(get("/nope.js").is_none());
        assert!(get("app.js").is_none());
        let page = std::str::from_utf8(page.body).expect("utf-8");
        for file in ["app.js", "style.css"] {
            assert!(page.contains(file), "index.html loads {file}");
        }
    }

    #[test]
    fn gzip_holds_the_same_bytes() {
        for path in paths() {
            let asset = get(path).expect("listed");
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(asset.gzip.expect("gzip"))
                .read_to_end(&mut plain)
                .expect("gunzip");
            assert_eq!(plain, asset.body, "{path}");
        }
    }

    /// Issue 13: the page and its files are at most 50 KiB compressed.
    #[test]
    fn the_client_is_small() {
        let total: usize = paths()
            .filter(|&p| p != "/index.html")
            .map(|p| get(p).and_then(|a| a.gzip).expect("gzip").len())
            .sum();
        assert!(total <= 50 * 1024, "{total} bytes gzip-compressed");
    }

    /// The CSP allows no inline script or style and no eval, and nothing
    /// from the network may be parsed as HTML.
    #[test]
    fn no_inline_code_and_no_html_from_strings() {
        for path in paths() {
            let text = std::str::from_utf8(get(path).expect("listed").body).expect("utf-8");
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "style=\"",
                "onclick=",
                "<script>",
            ] {
                assert!(!text.contains(banned), "{path} contains {banned:?}");
            }
        }
    }
}
