//! The web client (web/) in a real browser: headless Chromium driven
//! through chromedriver (WebDriver, with fantoccini) against the real
//! daemon's `[web]` listener, beside a plain IRC client. Each step leaves a
//! screenshot in `target/browser-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests
//! say they skipped (and fail under GROUPCHATD_REQUIRE_TOOLS=1, as in CI).

mod common;

use common::{Daemon, NO_FLOOD_CONTROL, PATIENCE, have_tool};
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WEB: &str = "[web]\nlisten = [\"127.0.0.1:0\"]\n";
const WEB_LISTENING: &str = "listening for web on ";
/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

/// Whether Chromium and its driver are here (else the test skips).
fn have_browser() -> bool {
    have_tool(
        "chromium",
        &["--version"],
        "the browser tests need Debian's chromium package",
    ) && have_tool(
        "chromedriver",
        &["--version"],
        "the browser tests need Debian's chromium-driver package",
    )
}

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a port that was free a moment ago. Another
    /// process may take that port first (a daemon of a test running
    /// alongside listens on port 0 too), and then chromedriver exits and
    /// whatever holds the port would get the WebDriver requests: so the
    /// driver counts as started only when it answers its own `/status`,
    /// and a new port is tried otherwise.
    fn start() -> Driver {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let mut child = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let deadline = Instant::now() + PATIENCE;
            loop {
                if driver_status(port).is_some_and(|s| s.contains("\"ready\":true")) {
                    return Driver {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                    };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // It exited: most likely the port was taken.
                }
                assert!(Instant::now() < deadline, "chromedriver did not answer");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("chromedriver would not start on any of five ports");
    }
    /// A new browser (its own profile, so its own session storage).
    async fn browser(&self, width: u32, height: u32, dark: bool) -> Browser {
        let mut args = vec![
            "--headless=new".to_string(),
            // Root in a container: Chromium's sandbox needs user namespaces.
            "--no-sandbox".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-gpu".to_string(),
            "--hide-scrollbars".to_string(),
            "--lang=en-GB".to_string(),
            format!("--window-size={width},{height}"),
        ];
        if dark {
            args.push("--force-dark-mode".to_string());
            args.push("--blink-settings=preferredColorScheme=0".to_string());
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("start a browser session")
    }
}

/// What chromedriver's `GET /status` on `port` answers, as far as it has
/// come by the time the answer says whether it is ready (chromedriver
/// keeps the connection open after it), if something there answers.
fn driver_status(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\"ready\"") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(b: &Browser, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("save screenshot");
}

/// Runs `script` (a function body; `arguments` are `args`) until it
/// returns something truthy; returns that.
async fn wait_js(b: &Browser, what: &str, script: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = b.execute(script, args.clone()).await.expect("script");
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(t) => *t,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::Object(_) => true,
        };
        if truthy {
            return value;
        }
        if Instant::now() > deadline {
            let page = b
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!("waited in vain for {what}; the page says:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until an element matching `css` contains `text`.
async fn wait_text(b: &Browser, css: &str, text: &str) {
    wait_js(
        b,
        &format!("{css} containing {text:?}"),
        "return [...document.querySelectorAll(arguments[0])].some(e => e.textContent.includes(arguments[1]))",
        vec![json!(css), json!(text)],
    )
    .await;
}

/// How many elements match `css`.
async fn count(b: &Browser, css: &str) -> u64 {
    b.execute(
        "return document.querySelectorAll(arguments[0]).length",
        vec![json!(css)],
    )
    .await
    .expect("script")
    .as_u64()
    .expect("a count")
}

async fn type_line(b: &Browser, text: &str) {
    let input = b.find(Locator::Id("input")).await.expect("#input");
    input
        .send_keys(&format!("{text}{ENTER}"))
        .await
        .expect("type");
}

/// Opens the page and answers the name prompt with `nick`.
async fn open_as(b: &Browser, url: &str, nick: &str) {
    b.goto(url).await.expect("open the page");
    answer_prompt(b, nick).await;
}

async fn answer_prompt(b: &Browser, nick: &str) {
    let field = b.find(Locator::Id("nick")).await.expect("#nick");
    field.clear().await.expect("clear");
    field
        .send_keys(&format!("{nick}{ENTER}"))
        .await
        .expect("type");
}

async fn wait_connected(b: &Browser, nick: &str) {
    wait_text(b, "#status", &format!("Connected as {nick}")).await;
}

fn web_url(daemon: &Daemon) -> String {
    let addr: SocketAddr = daemon.logged_addrs(WEB_LISTENING)[0];
    format!("http://{addr}/")
}

#[tokio::test(flavor = "current_thread")]
async fn two_people_chat_in_browsers_beside_a_terminal_client() {
    if !have_browser() {
        return;
    }
    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}{WEB}"));
    let url = web_url(&daemon);
    let driver = Driver::start();

    // Carol is on plain IRC and talks before anyone opens the page.
    let mut carol = daemon.register("carol");
    carol.send("PRIVMSG #lobby :said before the browsers came");
    carol.send("PING sync");
    carol.expect("PONG");

    // The name prompt, then straight into #lobby with recent history.
    let alice = driver.browser(1100, 700, false).await;
    alice.goto(&url).await.expect("open the page");
    wait_js(
        &alice,
        "the name prompt",
        "return !document.getElementById('login').hidden",
        vec![],
    )
    .await;
    shot(&alice, "01-name-prompt").await;
    let paints = wait_js(
        &alice,
        "paint timings",
        "return performance.getEntriesByType('paint').map(e => [e.name, e.startTime])",
        vec![],
    )
    .await;
    let first_paint = paints
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e[0] == "first-contentful-paint" || e[0] == "first-paint")
        .and_then(|e| e[1].as_f64())
        .expect("a first paint");
    eprintln!("first paint of the page: {paints} (ms after navigation start)");
    assert!(
        first_paint > 0.0 && first_paint < 10_000.0,
        "first paint at {first_paint} ms"
    );
    answer_prompt(&alice, "alice").await;
    wait_connected(&alice, "alice").await;
    wait_text(
        &alice,
        "#log .line.history",
        "said before the browsers came",
    )
    .await;
    wait_text(&alice, "#member-list", "carol").await;
    carol.expect(":alice!");

    // Bob comes; each browser sees the other arrive and what they say.
    let bob = driver.browser(1100, 700, false).await;
    open_as(&bob, &url, "bob").await;
    wait_connected(&bob, "bob").await;
    wait_text(&alice, "#log .line.join", "bob joined").await;
    wait_text(&alice, "#member-list", "bob").await;
    wait_text(&bob, "#member-list", "alice").await;
    type_line(&alice, "hello bob, welcome").await;
    wait_text(&bob, "#log .line.msg", "hello bob, welcome").await;
    type_line(&bob, "hi alice, see https://example.org/docs?a=1.").await;
    wait_text(&alice, "#log .line.msg", "hi alice").await;
    let link = alice
        .find(Locator::Css(
            "#log .line.msg a[href='https://example.org/docs?a=1']",
        ))
        .await
        .expect("the URL is a link");
    assert_eq!(
        link.attr("rel").await.unwrap().as_deref(),
        Some("noopener noreferrer")
    );
    assert_eq!(
        link.attr("target").await.unwrap().as_deref(),
        Some("_blank")
    );
    shot(&alice, "02-alice-and-bob").await;

    // The terminal client and the browsers hear each other.
    carol.send("PRIVMSG #lobby :hello from the terminal");
    wait_text(&alice, "#log .line.msg", "hello from the terminal").await;
    wait_text(&bob, "#log .line.msg", "hello from the terminal").await;
    type_line(&bob, "hello carol").await;
    carol.expect("PRIVMSG #lobby :hello carol");
    type_line(&alice, "/me waves").await;
    carol.expect("PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    wait_text(&bob, "#log .line.action", "* alice").await;

    // A private message: Bob clicks Alice's name.
    bob.find(Locator::Css("#member-list button[data-nick='alice']"))
        .await
        .expect("alice in the member list")
        .click()
        .await
        .expect("click");
    wait_text(&bob, "#tabs .tab.active", "alice").await;
    type_line(&bob, "psst, just for you").await;
    wait_text(&alice, "#tabs .tab.unread", "bob").await;
    wait_text(&alice, "#tabs .tab.unread .badge", "1").await;
    shot(&alice, "03-unread-private-message").await;
    alice
        .find(Locator::Css("#tabs .tab.unread"))
        .await
        .expect("bob's tab")
        .click()
        .await
        .expect("click");
    wait_text(
        &alice,
        "#log .lines:not([hidden]) .line.msg",
        "psst, just for you",
    )
    .await;
    assert_eq!(count(&alice, "#tabs .tab.unread").await, 0);
    type_line(&alice, "got it").await;
    wait_text(&bob, "#log .lines:not([hidden])", "got it").await;
    shot(&bob, "04-private-conversation").await;

    // HTML from the network stays text: in a message and in the topic.
    carol.send("PRIVMSG #lobby :look <img src=x onerror=alert(1)> here");
    carol.send("TOPIC #lobby :<b>Topic</b> <img src=y onerror=alert(2)>");
    alice
        .find(Locator::Css("#tabs .tab[data-name='#lobby']"))
        .await
        .expect("#lobby tab")
        .click()
        .await
        .expect("click");
    wait_text(
        &alice,
        "#log .line.msg",
        "look <img src=x onerror=alert(1)> here",
    )
    .await;
    wait_text(
        &alice,
        "#topic",
        "<b>Topic</b> <img src=y onerror=alert(2)>",
    )
    .await;
    assert_eq!(count(&alice, "#log img, #topic img, #topic b").await, 0);
    assert_eq!(count(&alice, "img").await, 0);
    shot(&alice, "05-html-shown-as-text").await;

    // A third person picks a name in use, is told so, then one that mixes
    // scripts (a Cyrillic `а` in Latin letters), is told that too, and
    // picks a name of their own, beyond ASCII; this one prefers a dark
    // theme.
    let dave = driver.browser(1100, 700, true).await;
    open_as(&dave, &url, "alice").await;
    wait_text(&dave, "#login-error", "taken").await;
    shot(&dave, "06-name-taken").await;
    answer_prompt(&dave, "\u{430}lice").await;
    wait_text(&dave, "#login-error", "mixes letters of scripts").await;
    answer_prompt(&dave, "Davé").await;
    wait_connected(&dave, "Davé").await;
    wait_text(&alice, "#log .line.join", "Davé joined").await;
    wait_text(&dave, "#log .line.history", "hello carol").await;
    shot(&dave, "07-dark-theme-with-history").await;
    carol.send("PRIVMSG DAVÉ :olá");
    wait_text(&dave, "#tabs .tab.unread", "carol").await;
    dave.close().await.expect("close Davé's browser");
    wait_text(&alice, "#log .line.quit", "Davé quit").await;
    wait_js(
        &alice,
        "Davé gone from the member list",
        "return !document.querySelector(\"#member-list [data-nick='Davé']\")",
        vec![],
    )
    .await;

    // Bob reloads: back in as bob, with recent history.
    bob.find(Locator::Css("#tabs .tab[data-name='#lobby']"))
        .await
        .expect("#lobby tab")
        .click()
        .await
        .expect("click");
    bob.refresh().await.expect("reload");
    wait_connected(&bob, "bob").await;
    wait_text(&bob, "#log .line.history", "hello from the terminal").await;
    wait_text(&bob, "#member-list", "alice").await;
    // His private conversation with Alice is back too, behind #lobby, with
    // what they said.
    wait_text(&bob, "#tabs .tab[data-name='alice']", "alice").await;
    assert_eq!(
        count(&bob, "#tabs .tab.active[data-name='#lobby']").await,
        1
    );
    shot(&bob, "08-after-reload").await;
    bob.find(Locator::Css("#tabs .tab[data-name='alice']"))
        .await
        .expect("alice's tab")
        .click()
        .await
        .expect("click");
    wait_text(
        &bob,
        "#log .lines:not([hidden]) .line.history",
        "psst, just for you",
    )
    .await;
    wait_text(&bob, "#log .lines:not([hidden]) .line.history", "got it").await;
    shot(&bob, "08b-private-conversation-after-reload").await;
    bob.find(Locator::Css("#tabs .tab[data-name='#lobby']"))
        .await
        .expect("#lobby tab")
        .click()
        .await
        .expect("click");

    // Cut off by the server: Bob's page says it is reconnecting, keeps
    // what he was typing, and gets back in by itself.
    let input = bob.find(Locator::Id("input")).await.expect("#input");
    input.send_keys("half a thought").await.expect("type");
    let kicked = daemon.ctl(&["kick", "bob", "testing reconnects"]);
    assert!(kicked.status.success(), "{kicked:?}");
    wait_text(&bob, "#status", "reconnecting").await;
    shot(&bob, "09-reconnecting").await;
    wait_connected(&bob, "bob").await;
    let kept = input.prop("value").await.expect("value");
    assert_eq!(kept.as_deref(), Some("half a thought"));
    input
        .send_keys(&format!(" finished{ENTER}"))
        .await
        .expect("type");
    carol.expect("PRIVMSG #lobby :half a thought finished");

    // On a phone-sized screen.
    bob.set_window_size(390, 760).await.expect("resize");
    shot(&bob, "10-phone").await;
    bob.find(Locator::Id("members-toggle"))
        .await
        .expect("members button")
        .click()
        .await
        .expect("click");
    wait_js(
        &bob,
        "the member list shown",
        "return document.getElementById('members').getBoundingClientRect().width > 0",
        vec![],
    )
    .await;
    shot(&bob, "11-phone-members").await;

    alice.close().await.expect("close");
    bob.close().await.expect("close");
}

/// In a large channel the server sends counts instead of each join and
/// quit, and only a count on joining: the page asks for NAMES and keeps its
/// member list right all the same.
#[tokio::test(flavor = "current_thread")]
async fn member_list_follows_presence_summaries_in_a_large_channel() {
    if !have_browser() {
        return;
    }
    let daemon = Daemon::start(&format!(
        "{NO_FLOOD_CONTROL}{WEB}[limits]\nlarge_channel = 2\npresence_interval = 1\n"
    ));
    let url = web_url(&daemon);
    let driver = Driver::start();
    let _carol = daemon.register("carol");
    let _dave = daemon.register("dave");
    let _erin = daemon.register("erin");

    // Three are here already: the join gets a count, not the names.
    let alice = driver.browser(1100, 700, false).await;
    open_as(&alice, &url, "alice").await;
    wait_connected(&alice, "alice").await;
    wait_text(&alice, "#log .line.presence", "people are here").await;
    for nick in ["carol", "dave", "erin", "alice"] {
        wait_text(&alice, "#member-list", nick).await;
    }

    // Frank's join is only counted in a summary; so is Dave's leaving.
    let mut frank = daemon.register("frank");
    wait_text(&alice, "#log .line.presence", "joined").await;
    wait_text(&alice, "#member-list", "frank").await;
    frank.send("QUIT :bye");
    frank.read_to_close();
    wait_text(&alice, "#log .line.presence", "1 left").await;
    wait_js(
        &alice,
        "frank gone from the member list",
        "return !document.querySelector(\"#member-list [data-nick='frank']\")",
        vec![],
    )
    .await;
    assert_eq!(count(&alice, "#member-list li").await, 4);
    shot(&alice, "12-large-channel-summaries").await;
    alice.close().await.expect("close");
}

/// The first one into a new channel is its operator: the member list shows
/// the `@` (operators listed first) and the `+` of a voiced member, the
/// person gives voice and kicks with the terminal's commands, and is told
/// plainly when trying that where they are not an operator.
#[tokio::test(flavor = "current_thread")]
async fn an_operator_gives_voice_and_kicks_from_the_page() {
    if !have_browser() {
        return;
    }
    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}{WEB}"));
    let url = web_url(&daemon);
    let driver = Driver::start();
    let alice = driver.browser(1100, 700, false).await;
    open_as(&alice, &url, "alice").await;
    wait_connected(&alice, "alice").await;
    type_line(&alice, "/join #ops").await;
    wait_text(&alice, "#member-list", "@alice").await;

    let mut carol = daemon.register("carol");
    carol.send("JOIN #ops");
    carol.expect(" 366 ");
    wait_text(&alice, "#member-list", "carol").await;
    type_line(&alice, "/voice carol").await;
    carol.expect("MODE #ops +v");
    wait_text(&alice, "#log .line.mode", "alice gave carol voice").await;
    wait_text(&alice, "#member-list", "+carol").await;
    let order = alice
        .execute(
            "return [...document.querySelectorAll('#member-list button')].map(b => b.dataset.nick)",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(order, json!(["alice", "carol"]));
    shot(&alice, "13-operator-and-voiced-member").await;

    type_line(&alice, "/kick carol that will do").await;
    carol.expect("KICK #ops carol :that will do");
    wait_text(
        &alice,
        "#log .line.kick",
        "alice kicked carol (that will do)",
    )
    .await;
    wait_js(
        &alice,
        "carol gone from the member list",
        "return !document.querySelector(\"#member-list [data-nick='carol']\")",
        vec![],
    )
    .await;
    wait_text(&alice, "#member-list", "@alice").await;
    shot(&alice, "14-operator-kicked-someone").await;

    // Carol's own channel: Alice is no operator there.
    carol.send("JOIN #theirs");
    carol.expect(" 366 ");
    type_line(&alice, "/join #theirs").await;
    wait_text(&alice, "#member-list", "@carol").await;
    type_line(&alice, "/kick carol").await;
    wait_text(&alice, "#log .line.error", "Only operators (@) of #theirs").await;
    shot(&alice, "15-not-an-operator").await;
    alice.close().await.expect("close");
}
