// Package output owns what dt prints about each host: the Record type, the
// OMNI line format (writing and parsing it) and the JSON lines format.
//
// # What this package owns
//
//   - Record, Status, the Stage constants and the Writer interface.
//   - The OMNI line format: FormatLine, AppendLine, Message, Escape,
//     Unescape and Parse, and Omni, the Writer that prints it (optionally
//     coloured; see ColorWanted).
//   - The JSON lines format: JSON, a Writer printing one object per record.
//
// It does not run anything, know about SSH, hosts, inventories or modules,
// decide exit codes or parse command-line flags, and it imports nothing else
// from dt. Callers build Records; this package only renders and parses them.
//
// # The OMNI line
//
// Every record becomes exactly one line:
//
//	STATUS:ENCODING:dt:MODULE:HOST:MESSAGE\n
//
// for example
//
//	okay::dt:ssh:web1:Mon Nov 16 23:54:04 CET 2009
//	fail::dt:ssh:web2:exit 1: grep: /etc/foo: No such file or directory
//	fail::dt:ssh:127.0.0.3:connect: dial tcp 127.0.0.3:22: connection refused
//	okay::dt:ssh:[::1]:line one\nline two
//
// STATUS is "okay", "fail" or "skip" (a selected host that was never
// started, in a rolling run that stopped; its MESSAGE says why). ENCODING is always empty; it is reserved for
// later use and Parse rejects any other value. "dt" is a literal tag.
//
// MESSAGE is the record's Message with one trailing newline dropped and, for
// failures, a prefix naming the stage (see Message):
//
//	Status Fail, Stage StageExit, ExitCode >= 0:  "exit N: " + output
//	Status Fail, Stage StageExit, ExitCode < 0:   "exit: " + output (signal)
//	Status Fail, any other non-empty Stage:       Stage + ": " + output
//	Status Okay, or Stage "":                     output, no prefix
//
// MESSAGE is escaped so that the line stays one line and is lossless (see
// Escape): backslash becomes `\\`, LF `\n`, CR `\r`, other control bytes
// (0x00-0x1f except TAB, and 0x7f) `\xHH` with lower-case hex, and so do
// the C1 controls: U+0080-U+009F in UTF-8 (`\xc2\x9b`) and bytes 0x80-0x9f
// outside valid UTF-8 (`\x9b`). TAB is kept as is because it is printable
// for humans. ':' is not escaped in MESSAGE: it is the last field, so it
// runs to the end of the line. Every other byte >= 0x80 is written raw, so
// UTF-8 text stays readable and invalid UTF-8 still round trips. Because
// ESC (0x1b) and 8-bit CSI (0x9b) are escaped, remote output can never send
// terminal control sequences to the user's terminal.
//
// HOST is written as given, except that a host containing ':' (an IPv6
// literal) is written in brackets, "[::1]", unless it is already bracketed.
// Parse removes the brackets, so a Record.Host of "::1" and one of "[::1]"
// both parse back as "::1". Inventories should therefore store IP literals
// without brackets.
//
// MODULE names never contain ':'. To keep every line parseable whatever the
// input, STATUS, MODULE and HOST are escaped like MESSAGE and additionally
// ':' (and ']' inside a bracketed host) is written as `\x3a` (`\x5d`); Parse
// unescapes MODULE and HOST. For ordinary names this changes nothing.
//
// # JSON lines
//
// JSON writes one object per record with the fields host, module, status,
// stage, exit_code, output, output_b64 (only when output is not valid
// UTF-8), started and duration_ms; see JSON for details. Unlike the OMNI
// MESSAGE, "output" is the raw Message, without prefix and without dropping
// the trailing newline.
package output
