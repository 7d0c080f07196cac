// groupchat in a browser: IRC over a WebSocket (subprotocol text.ircv3.net,
// one line a text frame). Everything from the network reaches the page as
// text nodes or attributes set one by one: never as HTML.

import { action, banMask, build, channelName, describeMode, fold, isChannel, modeChanges, nickProblem, parse, stripFormatting } from './irc.js';

const WANTED_CAPS = ['message-tags', 'server-time', 'batch', 'echo-message', 'draft/chathistory', 'draft/event-playback', 'labeled-response'];
const MAX_LINES = 1000;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const NAMES_EVERY_MS = 5000;
// Lines of each private conversation fetched again after a reload or a
// reconnect, and most conversations asked for at once.
const QUERY_LINES = 50;
const MAX_QUERIES = 50;
const $ = (id) => document.getElementById(id);

const ui = {
  body: document.body,
  status: $('status'),
  retry: $('retry'),
  login: $('login'),
  nick: $('nick'),
  loginError: $('login-error'),
  chat: $('chat'),
  tabs: $('tabs'),
  topic: $('topic'),
  close: $('close'),
  membersToggle: $('members-toggle'),
  log: $('log'),
  members: $('members'),
  membersTitle: $('members-title'),
  memberList: $('member-list'),
  composer: $('composer'),
  input: $('input'),
};

const state = {
  nick: sessionStorage.getItem('groupchat.nick') || '',
  ws: null,
  registered: false,
  everRegistered: false,
  quitting: false,
  caps: new Set(),
  offered: [],
  attempt: 0,
  retryTimer: 0,
  countdown: 0,
  nickRetries: 0,
  buffers: new Map(),
  active: null,
  batches: new Map(),
  sent: [],
  sentAt: 0,
  // The server time of the last live line: private conversations begun
  // after it are fetched on coming back.
  seenAt: sessionStorage.getItem('groupchat.seenAt') || '',
};

// ---- DOM helpers -----------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children);
  return node;
}

/** `text` as nodes, with http(s) URLs as links opening in a new tab. */
function richText(text) {
  const frag = document.createDocumentFragment();
  const clean = stripFormatting(text);
  const re = /\bhttps?:\/\/[^\s<>"]+/gi;
  let last = 0;
  for (let m; (m = re.exec(clean)); ) {
    let url = m[0].replace(/[.,;:!?'")\]]+$/, '');
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') href = parsed.href;
    } catch {
      href = null;
    }
    if (!href) continue;
    frag.append(clean.slice(last, m.index));
    frag.append(el('a', { href, rel: 'noopener noreferrer', target: '_blank' }, url));
    last = m.index + url.length;
    re.lastIndex = last;
  }
  frag.append(clean.slice(last));
  return frag;
}

function hhmm(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

// ---- conversations ---------------------------------------------------

/** The conversation `name` (a channel, or a nick for private messages). */
function buffer(name, create = true) {
  const key = fold(name);
  let b = state.buffers.get(key);
  if (b || !create) return b;
  const kind = isChannel(name) ? 'channel' : 'query';
  const label = el('span', { class: 'label' }, name);
  const badge = el('span', { class: 'badge', 'aria-label': 'unread' });
  const tab = el('button', { type: 'button', role: 'tab', class: 'tab', 'data-name': name, 'aria-selected': 'false' }, label, badge);
  const list = el('ol', { class: 'lines', hidden: true, 'aria-label': name });
  b = { key, name, kind, tab, label, badge, list, members: new Map(), pending: null, topic: '', unread: 0, seen: new Set(), joined: false, namesAt: 0, namesTimer: 0, historyHeader: null };
  tab.addEventListener('click', () => activate(b));
  state.buffers.set(key, b);
  ui.tabs.append(tab);
  ui.log.append(list);
  if (!state.active) activate(b);
  return b;
}

function activate(b) {
  if (state.active) {
    state.active.list.hidden = true;
    state.active.tab.setAttribute('aria-selected', 'false');
    state.active.tab.classList.remove('active');
  }
  state.active = b;
  b.list.hidden = false;
  b.tab.setAttribute('aria-selected', 'true');
  b.tab.classList.add('active');
  b.unread = 0;
  renderBadge(b);
  renderTopic();
  renderMembers();
  ui.close.hidden = b.kind !== 'query';
  ui.body.dataset.kind = b.kind;
  ui.log.scrollTop = ui.log.scrollHeight;
  b.tab.scrollIntoView({ block: 'nearest', inline: 'nearest' });
}

function closeBuffer(b) {
  const keys = [...state.buffers.keys()];
  const i = keys.indexOf(b.key);
  state.buffers.delete(b.key);
  b.tab.remove();
  b.list.remove();
  if (state.active === b) {
    state.active = null;
    const next = state.buffers.get(keys[i - 1]) || state.buffers.values().next().value;
    if (next) activate(next);
  }
}

function renderBadge(b) {
  b.badge.textContent = b.unread ? String(b.unread) : '';
  b.tab.classList.toggle('unread', b.unread > 0);
}

function renderTopic() {
  const b = state.active;
  ui.topic.replaceChildren();
  if (!b) return;
  ui.topic.append(el('strong', {}, b.name));
  if (b.topic) ui.topic.append(' — ', richText(b.topic));
  else if (b.kind === 'query') ui.topic.append(' — private conversation');
}

/** A channel member: `op` (@) and `voice` (+) from NAMES prefixes, kept
 * apart so that losing one still shows the other. */
function member(nick, prefixes = '') {
  return { nick, op: /[~&@]/.test(prefixes), voice: prefixes.includes('+') };
}

/** '@' for an operator of `b`, '+' for a voiced member, else ''. */
function prefixOf(b, nick) {
  const m = b.members.get(fold(nick));
  return !m ? '' : m.op ? '@' : m.voice ? '+' : '';
}

/** Operators first, then voiced members, then everyone else, by name. */
function byRank(x, y) {
  return y.op - x.op || y.voice - x.voice || fold(x.nick).localeCompare(fold(y.nick));
}

function renderMembers() {
  const b = state.active;
  if (!b || b.kind !== 'channel') {
    ui.memberList.replaceChildren();
    ui.membersTitle.textContent = 'Members';
    ui.membersToggle.textContent = 'Members';
    return;
  }
  const members = [...b.members.values()].sort(byRank);
  ui.membersTitle.textContent = `Members (${members.length})`;
  ui.membersToggle.textContent = `Members (${members.length})`;
  ui.memberList.replaceChildren(
    ...members.map(({ nick }) => {
      const me = fold(nick) === fold(state.nick);
      const status = prefixOf(b, nick);
      const button = el('button', { type: 'button', class: 'member', 'data-nick': nick, title: me ? 'you' : `Talk privately with ${nick}`, disabled: me }, status + nick);
      if (me) button.append(el('span', { class: 'you' }, ' (you)'));
      button.addEventListener('click', () => openQuery(nick));
      return el('li', {}, button);
    }),
  );
}

function openQuery(nick) {
  activate(buffer(nick));
  showMembers(false);
  ui.input.focus();
}

function showMembers(open) {
  ui.body.classList.toggle('members-open', open);
  ui.membersToggle.setAttribute('aria-expanded', String(open));
}

/**
 * Adds a line to `b`. `line` has kind ('msg', 'action', 'notice', 'join',
 * 'part', 'kick', 'quit', 'nick', 'topic', 'mode', 'error', 'info'), text,
 * and maybe nick (with status: its '@' or '+' in the channel),
 * time (ISO), msgid and history.
 */
function addLine(b, line) {
  if (line.msgid) {
    if (b.seen.has(line.msgid)) return;
    b.seen.add(line.msgid);
  }
  if (line.history && !b.historyHeader) {
    b.historyHeader = el('li', { class: 'line divider' }, 'Earlier messages');
    b.list.append(b.historyHeader);
  }
  let time = line.time ? new Date(line.time) : new Date();
  if (Number.isNaN(time.getTime())) time = new Date();
  const li = el('li', { class: `line ${line.kind}${line.history ? ' history' : ''}` });
  li.append(el('time', { datetime: time.toISOString(), title: time.toLocaleString() }, hhmm(time)));
  const shownNick = (line.status || '') + line.nick;
  if (line.kind === 'msg' || line.kind === 'notice') {
    const who = line.kind === 'notice' ? `-${shownNick}-` : shownNick;
    li.append(el('span', { class: nickClass(line.nick) }, who), ' ');
  } else if (line.kind === 'action') {
    li.append(el('span', { class: nickClass(line.nick) }, `* ${shownNick}`), ' ');
  }
  li.append(el('span', { class: 'text' }, richText(line.text)));
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 60;
  b.list.append(li);
  while (b.list.childElementCount > MAX_LINES) b.list.firstElementChild.remove();
  if (line.time && !line.history && line.time > state.seenAt) state.seenAt = line.time;
  if (b !== state.active) {
    if (['msg', 'action', 'notice'].includes(line.kind) && !line.history) {
      b.unread += 1;
      renderBadge(b);
    }
  } else if (atBottom) {
    ui.log.scrollTop = ui.log.scrollHeight;
  }
}

/** A line for whichever conversation is in front (errors, server notices). */
function info(text, kind = 'info') {
  if (!state.active && !state.registered) ui.loginError.textContent = text;
  else addLine(state.active || buffer('(server)'), { kind, text });
}

/** One of eight colours for a nick, the same every time. */
function nickClass(nick) {
  let h = 0;
  for (const c of fold(nick)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `nick c${h % 8}`;
}

// ---- connection ------------------------------------------------------

function setStatus(text, phase) {
  ui.status.textContent = text;
  if (phase) ui.body.dataset.state = phase;
  ui.retry.hidden = phase !== 'reconnecting' && phase !== 'offline';
}

function send(...args) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(build(...args));
    return true;
  }
  return false;
}

function connect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  if (state.ws) {
    state.ws.onclose = null;
    state.ws.close();
  }
  state.registered = false;
  state.quitting = false;
  state.caps = new Set();
  state.offered = [];
  state.batches.clear();
  setStatus(state.everRegistered ? 'Reconnecting…' : 'Connecting…', state.everRegistered ? 'reconnecting' : 'connecting');
  ui.retry.hidden = true;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let ws;
  try {
    ws = new WebSocket(`${scheme}//${location.host}/`, ['text.ircv3.net']);
  } catch (e) {
    scheduleReconnect(String(e));
    return;
  }
  state.ws = ws;
  ws.onopen = () => {
    send('CAP', 'LS', '302');
    send('NICK', state.nick);
    send('USER', state.nick, '0', '*', 'groupchat in a browser');
  };
  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') return;
    for (const line of event.data.split('\n')) if (line.trim()) handle(parse(line));
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.registered = false;
    for (const b of state.buffers.values()) b.joined = false;
    if (state.quitting) {
      setStatus('Disconnected', 'offline');
      return;
    }
    scheduleReconnect(event.reason);
  };
}

function scheduleReconnect(reason) {
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
  state.attempt += 1;
  let left = Math.ceil(delay / 1000);
  const show = () => setStatus(`Connection lost${reason ? ` (${reason})` : ''}: reconnecting in ${left} s…`, 'reconnecting');
  show();
  clearInterval(state.countdown);
  state.countdown = setInterval(() => {
    left = Math.max(0, left - 1);
    show();
  }, 1000);
  state.retryTimer = setTimeout(connect, delay);
}

function capsDone() {
  send('CAP', 'END');
}

// ---- what the server says --------------------------------------------

function handle(msg) {
  const p = msg.params;
  const last = p[p.length - 1] || '';
  const batch = msg.tags.batch && state.batches.get(msg.tags.batch);
  const history = Boolean(batch && batch.type === 'chathistory');
  const meta = { time: msg.tags.time, msgid: msg.tags.msgid, history };
  const fromMe = fold(msg.nick) === fold(state.nick);
  switch (msg.command) {
    case 'PING':
      send('PONG', ...p);
      break;
    case 'CAP':
      onCap(p);
      break;
    case 'BATCH':
      if (p[0].startsWith('+')) state.batches.set(p[0].slice(1), { type: p[1], target: p[2] });
      else {
        const done = state.batches.get(p[0].slice(1));
        state.batches.delete(p[0].slice(1));
        if (done && done.type === 'chathistory' && done.target) {
          const b = buffer(done.target, false);
          if (b && b.historyHeader && b.list.lastElementChild !== b.historyHeader) {
            b.list.append(el('li', { class: 'line divider' }, 'Now'));
          }
          if (b) b.historyHeader = null;
        }
      }
      break;
    case '001':
      state.nick = p[0];
      state.registered = true;
      state.everRegistered = true;
      state.attempt = 0;
      state.nickRetries = 0;
      sessionStorage.setItem('groupchat.nick', state.nick);
      setStatus(`Connected as ${state.nick}`, 'connected');
      ui.login.hidden = true;
      ui.chat.hidden = false;
      ui.input.focus();
      // Back into the channels this page was in (the server puts everyone
      // in its default channel by itself).
      setTimeout(() => {
        for (const b of state.buffers.values()) if (b.kind === 'channel' && !b.joined) send('JOIN', b.name);
        catchUpQueries();
      }, 800);
      break;
    case '432':
    case '433':
      onNickRefused(msg.command, p[1] || '', last);
      break;
    case 'NICK': {
      const to = p[0];
      if (fromMe) {
        state.nick = to;
        sessionStorage.setItem('groupchat.nick', to);
        setStatus(`Connected as ${to}`, 'connected');
      }
      const query = buffer(msg.nick, false);
      if (query && !buffer(to, false)) {
        state.buffers.delete(query.key);
        query.key = fold(to);
        query.name = to;
        query.label.textContent = to;
        query.tab.dataset.name = to;
        state.buffers.set(query.key, query);
        if (query === state.active) renderTopic();
      }
      for (const b of state.buffers.values()) {
        const was = b.members.get(fold(msg.nick));
        if (b.members.delete(fold(msg.nick)) || b === query) {
          if (b.kind === 'channel') b.members.set(fold(to), { ...was, nick: to });
          addLine(b, { ...meta, kind: 'nick', text: fromMe ? `You are now known as ${to}` : `${msg.nick} is now known as ${to}` });
        }
      }
      renderMembers();
      break;
    }
    case 'JOIN': {
      const b = buffer(p[0]);
      if (fromMe && !history) {
        b.joined = true;
        b.members.clear();
        addLine(b, { ...meta, kind: 'join', text: `You joined ${b.name}` });
        if (!state.active || state.active.key === '(server)') activate(b);
      } else {
        if (!history) b.members.set(fold(msg.nick), member(msg.nick));
        addLine(b, { ...meta, kind: 'join', text: `${msg.nick} joined` });
      }
      if (b === state.active) renderMembers();
      break;
    }
    case 'PART': {
      const b = buffer(p[0]);
      const reason = p[1] ? ` (${p[1]})` : '';
      if (fromMe && !history) {
        b.joined = false;
        b.members.clear();
        addLine(b, { ...meta, kind: 'part', text: `You left ${b.name}${reason}` });
      } else {
        if (!history) b.members.delete(fold(msg.nick));
        addLine(b, { ...meta, kind: 'part', text: `${msg.nick} left${reason}` });
      }
      if (b === state.active) renderMembers();
      break;
    }
    case 'KICK': {
      const b = buffer(p[0]);
      const reason = p[2] ? ` (${p[2]})` : '';
      if (fold(p[1]) === fold(state.nick) && !history) {
        b.joined = false;
        b.members.clear();
        addLine(b, { ...meta, kind: 'kick', text: `${msg.nick} kicked you from ${b.name}${reason}` });
      } else {
        if (!history) b.members.delete(fold(p[1]));
        addLine(b, { ...meta, kind: 'kick', text: `${msg.nick} kicked ${p[1]}${reason}` });
      }
      if (b === state.active) renderMembers();
      break;
    }
    case 'MODE': {
      if (!isChannel(p[0])) break;
      const b = buffer(p[0]);
      const changes = modeChanges(p.slice(1));
      for (const { add, mode, arg } of changes) {
        const m = !history && arg && b.members.get(fold(arg));
        if (m && mode === 'o') m.op = add;
        if (m && mode === 'v') m.voice = add;
      }
      addLine(b, { ...meta, kind: 'mode', text: `${msg.nick} ${changes.map(describeMode).join(', ')}` });
      if (b === state.active) renderMembers();
      break;
    }
    case 'QUIT': {
      const reason = p[0] ? ` (${p[0]})` : '';
      const text = `${msg.nick} quit${reason}`;
      if (history) {
        if (batch.target) addLine(buffer(batch.target), { ...meta, kind: 'quit', text });
        break;
      }
      for (const b of state.buffers.values()) {
        if (b.members.delete(fold(msg.nick)) || b.key === fold(msg.nick)) addLine(b, { ...meta, kind: 'quit', text });
      }
      renderMembers();
      break;
    }
    case 'PRIVMSG':
    case 'NOTICE':
      onMessage(msg, meta, fromMe);
      break;
    case 'CHATHISTORY':
      // A conversation active while this page was away.
      if (p[0] === 'TARGETS' && p[1] && !isChannel(p[1]) && fold(p[1]) !== fold(state.nick) && !buffer(p[1], false)) fetchQuery(p[1]);
      break;
    case 'TOPIC': {
      const b = buffer(p[0]);
      b.topic = p[1] || '';
      addLine(b, { ...meta, kind: 'topic', text: b.topic ? `${msg.nick} set the topic: ${b.topic}` : `${msg.nick} cleared the topic` });
      if (b === state.active) renderTopic();
      break;
    }
    case '331':
    case '332': {
      const b = buffer(p[1]);
      b.topic = msg.command === '332' ? last : '';
      if (b === state.active) renderTopic();
      if (msg.command === '331') addLine(b, { kind: 'topic', text: 'No topic is set' });
      break;
    }
    case '353': {
      const b = buffer(p[2], false);
      if (!b) break;
      b.pending = b.pending || new Map();
      for (const entry of last.split(' ')) {
        const [, prefixes, nick] = /^([~&@%+]*)([^!]*)/.exec(entry);
        if (nick) b.pending.set(fold(nick), member(nick, prefixes));
      }
      break;
    }
    case '366': {
      const b = buffer(p[1], false);
      if (!b) break;
      if (b.pending) b.members = b.pending;
      b.pending = null;
      if (b === state.active) renderMembers();
      break;
    }
    case 'ERROR':
      info(last, 'error');
      break;
    case 'FAIL':
      info(last, 'error');
      break;
    case '422': // no MOTD: nothing to say
      break;
    case '482':
      info(`Only operators (@) of ${p[1]} can do that, and you are not one.`, 'error');
      break;
    default:
      if (/^[45]\d\d$/.test(msg.command)) {
        const subject = p.length > 2 ? `${p[1]}: ` : '';
        info(subject + last, 'error');
      }
  }
}

function onCap(p) {
  const sub = (p[1] || '').toUpperCase();
  if (sub === 'LS') {
    const more = p[2] === '*';
    state.offered.push(...p[p.length - 1].split(' ').map((c) => c.split('=')[0]));
    if (more) return;
    const want = WANTED_CAPS.filter((c) => state.offered.includes(c));
    if (want.length) send('CAP', 'REQ', want.join(' '));
    else capsDone();
  } else if (sub === 'ACK') {
    for (const c of p[p.length - 1].split(' ')) if (c && !c.startsWith('-')) state.caps.add(c);
    if (!state.registered) capsDone();
  } else if (sub === 'NAK') {
    if (!state.registered) capsDone();
  }
}

function onNickRefused(code, nick, reason) {
  // A look-alike of a name in use is refused as taken, with the reason.
  const taken = /^Nickname looks like /.test(reason) ? `looks like ${reason.slice(20)}` : 'is taken';
  const because = reason.replace(/^Erroneous nickname: /, '');
  const why = code === '433' ? `The name “${nick}” ${taken}. Please choose another.` : `The name “${nick}” cannot be used: ${because}.`;
  if (state.registered) {
    info(why, 'error');
    return;
  }
  // Coming back after a reload or a cut connection, the old connection may
  // still hold the name for a moment: try again before asking.
  if (code === '433' && state.everRegistered && state.nickRetries < 3) {
    state.nickRetries += 1;
    setTimeout(() => send('NICK', state.nick), 1000 * state.nickRetries);
    return;
  }
  state.nickRetries = 0;
  ui.chat.hidden = !state.everRegistered;
  ui.login.hidden = false;
  ui.loginError.textContent = why;
  ui.nick.value = nick || state.nick;
  ui.nick.focus();
  ui.nick.select();
  setStatus('Choose a name', 'login');
}

const PRESENCE = /^\* [\d,]+ joined, [\d,]+ left in the last \d+ s \(([\d,]+) here\)$|^([\d,]+) people are here; \/NAMES /;

function onMessage(msg, meta, fromMe) {
  const [target, text = ''] = msg.params;
  const fromServer = !msg.prefix.includes('!');
  let b;
  if (isChannel(target)) b = buffer(target);
  else if (fromServer) b = state.active || buffer('(server)');
  else b = buffer(fromMe ? target : msg.nick);
  if (msg.command === 'NOTICE' && fromServer && isChannel(target) && PRESENCE.test(text)) {
    // A large channel sends counts instead of each join and part: show
    // them, and ask for the list again now and then to keep it right.
    // (The terminal's hint to type /NAMES is done for the person here.)
    addLine(b, { ...meta, kind: 'presence', text: text.replace(/; \/NAMES \S+ lists them$/, '') });
    refreshNames(b);
    return;
  }
  const act = msg.command === 'PRIVMSG' ? action(text) : null;
  if (act !== null) addLine(b, { ...meta, kind: 'action', nick: msg.nick, status: prefixOf(b, msg.nick), text: act });
  else if (text.startsWith('\x01')) return; // other CTCP: not shown
  else if (fromServer) addLine(b, { ...meta, kind: 'info', text });
  else addLine(b, { ...meta, kind: msg.command === 'NOTICE' ? 'notice' : 'msg', nick: msg.nick, status: prefixOf(b, msg.nick), text });
}

/**
 * Back after a reload or a cut connection: the private conversations this
 * tab had (kept in sessionStorage across a reload) get their last lines
 * again, and those begun since the last line seen are asked for (TARGETS).
 * Lines already shown are skipped by their msgid.
 */
function catchUpQueries() {
  if (!state.caps.has('draft/chathistory') || !state.caps.has('batch')) return;
  let names = [];
  try {
    names = JSON.parse(sessionStorage.getItem('groupchat.queries') || '[]');
  } catch {
    names = [];
  }
  if (!Array.isArray(names)) names = [];
  for (const b of state.buffers.values()) if (b.kind === 'query') names.push(b.name);
  const asked = new Set();
  for (const name of names) {
    if (typeof name !== 'string' || isChannel(name) || asked.has(fold(name)) || asked.size >= MAX_QUERIES) continue;
    asked.add(fold(name));
    fetchQuery(name);
  }
  if (state.seenAt) {
    const until = new Date(Date.now() + 60_000).toISOString();
    send('CHATHISTORY', 'TARGETS', `timestamp=${state.seenAt}`, `timestamp=${until}`, String(MAX_QUERIES));
  }
}

/** Opens (without switching to) the private conversation with `nick`, and
 * asks for its last lines. */
function fetchQuery(nick) {
  buffer(nick);
  send('CHATHISTORY', 'LATEST', nick, '*', String(QUERY_LINES));
}

/** NAMES for `b`, at most once per NAMES_EVERY_MS; one asked for sooner is
 * sent when that time is up, so the last change is never missed. */
function refreshNames(b) {
  const wait = b.namesAt + NAMES_EVERY_MS - Date.now();
  if (b.namesTimer) return;
  if (wait > 0) {
    b.namesTimer = setTimeout(() => {
      b.namesTimer = 0;
      refreshNames(b);
    }, wait);
    return;
  }
  b.namesAt = Date.now();
  send('NAMES', b.name);
}

// ---- what the person types -------------------------------------------

const HELP = [
  'Type a line to talk in the current conversation. Commands:',
  '/msg NICK TEXT — send a private message (or click a name)',
  '/me TEXT — act: “* you TEXT”',
  '/join #CHANNEL — join a channel and talk there',
  '/part [REASON] — leave the current channel (or close a private conversation)',
  '/nick NEW — change your name',
  '/topic [TEXT] — show or set the channel topic',
  '/names — refresh the member list',
  'Channel operators (@) can: /op NICK, /deop NICK, /voice NICK, /devoice NICK, /kick NICK [REASON], /ban MASK (a NICK bans NICK!*@*), /unban MASK, /mode ARGS…',
  '/quit [REASON] — leave',
  'Start a line with // to say something beginning with /. Alt+↑/↓ switch conversations.',
];

/** Sends `text` to the active conversation, showing it when no echo comes. */
function say(b, text, isAction = false) {
  if (b.kind === 'channel' && !b.joined) {
    info(`You are not in ${b.name}: /join ${b.name}`, 'error');
    return;
  }
  if (b.key === '(server)') {
    info('This tab only shows the server. Pick a channel or a name.', 'error');
    return;
  }
  send('PRIVMSG', b.name, isAction ? `\x01ACTION ${text}\x01` : text);
  if (!state.caps.has('echo-message')) addLine(b, { kind: isAction ? 'action' : 'msg', nick: state.nick, status: prefixOf(b, state.nick), text });
}

/** Operator commands that are a mode change: the change and its argument. */
const OPERATOR_COMMANDS = {
  op: ['+o', 'NICK'],
  deop: ['-o', 'NICK'],
  voice: ['+v', 'NICK'],
  devoice: ['-v', 'NICK'],
  ban: ['+b', 'MASK'],
  unban: ['-b', 'MASK'],
};

/** Runs `act` when `b` is a channel, else says why not. */
function inChannel(b, act) {
  if (b.kind === 'channel') act();
  else info('That is for channels: switch to one first.', 'error');
}

/** Runs one typed line; false when it could not be sent (keep it). */
function runLine(line) {
  const b = state.active;
  if (!line.startsWith('/') || line.startsWith('//')) {
    say(b, line.startsWith('//') ? line.slice(1) : line);
    return;
  }
  const space = line.indexOf(' ');
  const name = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase();
  const args = space < 0 ? '' : line.slice(space + 1).trim();
  const words = args.split(/\s+/).filter(Boolean);
  const usage = (u) => info(`usage: ${u}`, 'error');
  switch (name) {
    case 'me':
      if (args) say(b, args, true);
      else usage('/me TEXT');
      break;
    case 'msg':
    case 'query': {
      const [to] = words;
      const text = args.slice(to ? to.length : 0).trim();
      if (!to) usage('/msg NICK TEXT');
      else {
        const q = buffer(to);
        activate(q);
        if (text) say(q, text);
      }
      break;
    }
    case 'join':
      if (words.length === 1) {
        const chan = channelName(words[0]);
        activate(buffer(chan));
        send('JOIN', chan);
      } else usage('/join #CHANNEL');
      break;
    case 'part':
    case 'leave':
    case 'close':
      if (b.kind === 'query' || b.key === '(server)') closeBuffer(b);
      else if (args) send('PART', b.name, args);
      else send('PART', b.name);
      break;
    case 'nick':
      if (words.length !== 1) usage('/nick NEW');
      else if (nickProblem(words[0])) info(nickProblem(words[0]), 'error');
      else send('NICK', words[0]);
      break;
    case 'topic':
      if (b.kind !== 'channel') info('Topics are for channels.', 'error');
      else if (args) send('TOPIC', b.name, args);
      else send('TOPIC', b.name);
      break;
    case 'names':
    case 'who':
      if (b.kind === 'channel') send('NAMES', b.name);
      break;
    case 'kick':
      if (!words.length) usage('/kick NICK [REASON]');
      else inChannel(b, () => send('KICK', b.name, words[0], ...(words.length > 1 ? [args.slice(words[0].length).trim()] : [])));
      break;
    case 'op':
    case 'deop':
    case 'voice':
    case 'devoice':
    case 'ban':
    case 'unban': {
      const [change, what] = OPERATOR_COMMANDS[name];
      if (words.length !== 1) usage(`/${name} ${what}`);
      else inChannel(b, () => send('MODE', b.name, change, what === 'NICK' ? words[0] : banMask(words[0])));
      break;
    }
    case 'mode':
      if (isChannel(words[0] || '')) send('MODE', ...words);
      else inChannel(b, () => send('MODE', b.name, ...words));
      break;
    case 'quit':
    case 'exit':
      state.quitting = true;
      send('QUIT', args || 'Leaving');
      break;
    case 'help':
    case '?':
      for (const h of HELP) info(h);
      break;
    default:
      info(`Unknown command /${name}; /help lists the commands.`, 'error');
  }
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const line = ui.input.value;
  if (!line.trim()) return;
  if (!state.registered) {
    // Kept in the box, to send once the connection is back.
    setStatus(`${ui.status.textContent.replace(/ — .*$/, '')} — not sent yet; your text is kept`);
    if (state.quitting) connect();
    return;
  }
  runLine(line);
  state.sent.push(line);
  if (state.sent.length > 50) state.sent.shift();
  state.sentAt = state.sent.length;
  ui.input.value = '';
  sessionStorage.removeItem('groupchat.draft');
});

ui.input.addEventListener('input', () => sessionStorage.setItem('groupchat.draft', ui.input.value));

ui.input.addEventListener('keydown', (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.key === 'ArrowUp' && state.sentAt > 0) {
    state.sentAt -= 1;
    ui.input.value = state.sent[state.sentAt];
    event.preventDefault();
  } else if (event.key === 'ArrowDown' && state.sentAt < state.sent.length) {
    state.sentAt += 1;
    ui.input.value = state.sent[state.sentAt] || '';
    event.preventDefault();
  }
});

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    showMembers(false);
    return;
  }
  const next = event.altKey && (event.key === 'ArrowDown' || event.key === 'ArrowUp');
  const page = event.ctrlKey && (event.key === 'PageDown' || event.key === 'PageUp');
  if (!(next || page) || !state.active) return;
  const all = [...state.buffers.values()];
  const step = event.key === 'ArrowDown' || event.key === 'PageDown' ? 1 : -1;
  activate(all[(all.indexOf(state.active) + step + all.length) % all.length]);
  event.preventDefault();
});

ui.tabs.addEventListener('keydown', (event) => {
  if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
  const tabs = [...ui.tabs.children];
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  const next = tabs[(i + (event.key === 'ArrowRight' ? 1 : -1) + tabs.length) % tabs.length];
  next.focus();
  next.click();
});

ui.login.addEventListener('submit', (event) => {
  event.preventDefault();
  const nick = ui.nick.value.trim();
  const problem = nickProblem(nick);
  if (problem) {
    ui.loginError.textContent = problem;
    return;
  }
  ui.loginError.textContent = '';
  state.nick = nick;
  if (state.ws && state.ws.readyState === WebSocket.OPEN && !state.registered) send('NICK', nick);
  else if (state.registered) send('NICK', nick);
  else connect();
});

ui.retry.addEventListener('click', () => connect());
ui.close.addEventListener('click', () => state.active && closeBuffer(state.active));
ui.membersToggle.addEventListener('click', () => showMembers(!ui.body.classList.contains('members-open')));
window.addEventListener('resize', () => {
  ui.log.scrollTop = ui.log.scrollHeight;
});
window.addEventListener('pagehide', () => {
  // What a reload needs to come back to the same conversations.
  const queries = [...state.buffers.values()].filter((b) => b.kind === 'query').map((b) => b.name);
  sessionStorage.setItem('groupchat.queries', JSON.stringify(queries));
  if (state.seenAt) sessionStorage.setItem('groupchat.seenAt', state.seenAt);
  state.quitting = true;
  send('QUIT', 'Page closed');
});

// ---- start -----------------------------------------------------------

ui.input.value = sessionStorage.getItem('groupchat.draft') || '';
if (state.nick) {
  // A reload: back in with the same name.
  ui.nick.value = state.nick;
  state.everRegistered = true;
  ui.login.hidden = true;
  ui.chat.hidden = false;
  connect();
} else {
  ui.nick.focus();
}
