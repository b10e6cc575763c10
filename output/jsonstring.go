package output

import "unicode/utf8"

// appendJSONChars appends p as the inside of a JSON string (no quotes),
// escaped exactly as JSON.Write does: as encoding/json with
// SetEscapeHTML(false) ('"', '\\' and control bytes escaped: \b \f \n \r
// \t, others \u00XX; invalid UTF-8 replaced by \ufffd; U+2028 and U+2029
// escaped), and the C1 controls U+0080-U+009F as \u0080-\u009f (see
// escapeC1). JSON streams a spilled message through it piece by piece;
// pieces must be cut where no UTF-8 sequence spans the cut (see safeCut).
func appendJSONChars(dst, p []byte) []byte {
	start := 0
	for i := 0; i < len(p); {
		b := p[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, p[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(p[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, p[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c >= 0x80 && c <= 0x9f {
			dst = append(dst, p[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, p[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, p[start:]...)
}
