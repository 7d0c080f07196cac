// The IRC protocol, pure: parse a line, build a line, fold a name.

const TAG_ESCAPES = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

/** An IRCv3 tag value, unescaped. */
export function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_ESCAPES ? TAG_ESCAPES[c] : c));
}

/**
 * One line from the server as { tags, prefix, nick, command, params }.
 * `nick` is the prefix up to its `!` (the whole prefix for a server).
 */
export function parse(line) {
  let rest = line.replace(/[\r\n]+$/, '');
  const word = () => {
    rest = rest.replace(/^ +/, '');
    const space = rest.indexOf(' ');
    const w = space < 0 ? rest : rest.slice(0, space);
    rest = space < 0 ? '' : rest.slice(space + 1);
    return w;
  };
  const msg = { tags: {}, prefix: '', nick: '', command: '', params: [] };
  if (rest.startsWith('@')) {
    for (const tag of word().slice(1).split(';')) {
      if (!tag) continue;
      const eq = tag.indexOf('=');
      if (eq < 0) msg.tags[tag] = '';
      else msg.tags[tag.slice(0, eq)] = unescapeTag(tag.slice(eq + 1));
    }
  }
  rest = rest.replace(/^ +/, '');
  if (rest.startsWith(':')) msg.prefix = word().slice(1);
  msg.nick = msg.prefix.split('!')[0];
  msg.command = word().toUpperCase();
  for (;;) {
    rest = rest.replace(/^ +/, '');
    if (!rest) break;
    if (rest.startsWith(':')) {
      msg.params.push(rest.slice(1));
      break;
    }
    msg.params.push(word());
  }
  return msg;
}

/**
 * A line to send. Line breaks in a parameter become spaces, so nothing
 * typed can smuggle in a second command; the last parameter is sent as a
 * trailing one when it needs to be.
 */
export function build(command, ...params) {
  const clean = params.map((p) => String(p).replace(/[\r\n\0]+/g, ' '));
  const last = clean.length - 1;
  if (last >= 0 && (clean[last] === '' || clean[last].includes(' ') || clean[last].startsWith(':'))) {
    clean[last] = ':' + clean[last];
  }
  return [command, ...clean].join(' ');
}

/**
 * Names compare as the server folds them (CASEMAPPING=precis): lowercased
 * character by character (no final-sigma rule, as the server) and
 * NFC-normalized, so `JOÃO`, `joão` and a `joão` typed with a combining
 * tilde are one name. ASCII folds as before. Where it may differ from the
 * server: characters that the browser's Unicode and Rust's disagree on.
 */
export function fold(name) {
  return Array.from(name, (c) => c.toLowerCase()).join('').normalize('NFC');
}

export function isChannel(name) {
  return /^[#&]/.test(name);
}

/** `#dev` for `dev`, as the terminal client's /join does. */
export function channelName(name) {
  return isChannel(name) ? name : '#' + name;
}

/**
 * Why a nickname the person typed cannot be, or '' when it may be: letters,
 * marks and digits of any script, the IRC specials []\`_^{|} and -, not
 * starting with a digit or -. The server is stricter beyond ASCII (only
 * scripts in modern use, no fullwidth forms) and answers 432 for what this
 * lets through.
 */
export function nickProblem(nick) {
  if (!nick) return 'A name cannot be empty.';
  if (/\s/u.test(nick)) return 'A name is one word, without spaces.';
  if (/^[#:/&]/.test(nick)) return `A name cannot start with “${nick[0]}”.`;
  if (/^[\p{N}-]/u.test(nick)) return 'A name cannot start with a digit or “-”.';
  const bad = /[^\p{L}\p{M}\p{N}[\]\\`_^{|}-]/u.exec(nick);
  if (bad) return `A name cannot contain “${bad[0]}”.`;
  return '';
}

/** CTCP ACTION text of a PRIVMSG, or null when it is not one. */
export function action(text) {
  const m = /^\x01ACTION(?: (.*?))?\x01?$/.exec(text);
  return m ? m[1] || '' : null;
}

/** Text without mIRC formatting codes (bold, colours, …). */
export function stripFormatting(text) {
  return text.replace(/\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g, '');
}

/**
 * The changes of a channel MODE line's parameters (after the channel) as
 * { add, mode, arg }: list modes, member statuses and the key always take
 * an argument, the limit only when set, as the server announces them.
 */
export function modeChanges([modes = '', ...args]) {
  let add = true;
  const changes = [];
  for (const mode of modes) {
    if (mode === '+' || mode === '-') add = mode === '+';
    else changes.push({ add, mode, arg: 'beIkovhqa'.includes(mode) || (mode === 'l' && add) ? args.shift() : undefined });
  }
  return changes;
}

/** One mode change in words: “gave bob operator status”. */
export function describeMode({ add, mode, arg = '' }) {
  const words = {
    '+o': `gave ${arg} operator status`,
    '-o': `removed operator status from ${arg}`,
    '+v': `gave ${arg} voice`,
    '-v': `removed voice from ${arg}`,
    '+b': `banned ${arg}`,
    '-b': `unbanned ${arg}`,
  };
  const change = (add ? '+' : '-') + mode;
  return words[change] || `set mode ${change}${arg ? ' ' + arg : ''}`;
}

/** A ban mask as typed: a bare nick means everyone using it (NICK!*@*). */
export function banMask(mask) {
  return /[!@]/.test(mask) ? mask : `${mask}!*@*`;
}
