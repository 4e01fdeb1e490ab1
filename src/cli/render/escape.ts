/**
 * Terminal-escape neutralisation for text that came from a registry or an
 * artifact (layer titles, tar entry names, tags, annotations, registry error
 * messages, paths). A raw ESC/CSI/OSC sequence printed to a terminal can move
 * the cursor, rewrite or hide earlier lines, set the window title or write
 * the clipboard (OSC 52); a bidi override can make a name read differently
 * from what it is. These helpers make every such character visible instead.
 *
 * Escaped (as `\xNN` / `\u{NNNN}`): C0 controls U+0000–U+001F (including ESC,
 * BEL, BS, CR, and — for {@link escapeTerminal} — LF and TAB), DEL U+007F,
 * C1 controls U+0080–U+009F (8-bit CSI U+009B, OSC U+009D, …), bidi
 * embeddings/overrides/isolates U+202A–U+202E, U+2066–U+2069, marks
 * U+200E/U+200F/U+061C, line/paragraph separators U+2028/U+2029. The escapes
 * are for reading, not for round-tripping. JSON output never goes through
 * here: it stays byte-exact.
 */

const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// Same set minus LF (0x0a) and TAB (0x09): for whole lines of output the CLI composed itself.
const UNSAFE_TEXT =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(ch: string): string {
  const c = ch.charCodeAt(0);
  return c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
}

/**
 * Returns `s` with every terminal control character (see the module doc,
 * newline and tab included) replaced by a visible escape such as `\x1b`.
 * Use it for one untrusted value placed inside a line (a title, a tag).
 * Strings without such characters are returned unchanged (same instance).
 */
export function escapeTerminal(s: string): string {
  UNSAFE_ALL.lastIndex = 0;
  return UNSAFE_ALL.test(s) ? s.replace(UNSAFE_ALL, visible) : s;
}

/**
 * Like {@link escapeTerminal} but keeps `\n` and `\t`: for whole blocks of
 * text output (the CLI's own line breaks survive; ESC, CR, BEL, C1, DEL and
 * bidi controls do not). Applied by the CLI's text output functions, so every
 * command's text output is covered even where a value was not escaped itself.
 */
export function escapeTerminalText(s: string): string {
  UNSAFE_TEXT.lastIndex = 0;
  return UNSAFE_TEXT.test(s) ? s.replace(UNSAFE_TEXT, visible) : s;
}
