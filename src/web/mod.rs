//! The web side of the daemon: HTTP requests on the web listeners, the
//! answers to them, and the WebSocket framing of IRC lines once a request
//! upgrades. Pure protocol code: the transport (`transport::web`) drives
//! it inside the event loop.

pub mod assets;
pub mod http;
pub mod metrics;
pub mod route;
pub mod websocket;
