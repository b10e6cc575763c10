package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// Journal reads systemd journals: merged across hosts by time, or followed
// live.
type Journal struct{}

// Name implements Module.
func (Journal) Name() string { return "journal" }

// Summary implements Module.
func (Journal) Summary() string {
	return "journal lines from every host, merged in time order (-f: follow live)"
}

// Usage implements Module.
func (Journal) Usage() string {
	return `dt PATTERN journal [--user] [-u UNIT]... [UNIT...] [-n N] [--since T] [--until T] [-p PRIORITY] [-g REGEX] [-f]

Reads the systemd journal of every host (journalctl -o json) and prints one
line per journal entry, time first:

  $ dt tag:web journal nginx -n 2
  okay::dt:journal:web1:2026-11-23T17:00:01.123456Z nginx[123]: started
  okay::dt:journal:web2:2026-11-23T17:00:01.200001Z nginx[456]: started
  okay::dt:journal:web1:2026-11-23T17:05:00.000002Z nginx[123]: reloading

Without -f the entries of all hosts are merged in timestamp order (UTC,
microseconds): one fleet-wide log. Hosts with no matching entries print
"-- no entries --" and failed hosts print a fail line, after the log. With -f
every host is followed live and lines print as they arrive, until Ctrl-C
(exit 130; the remote journalctl processes are stopped) or --timeout.

OPTIONS (passed to journalctl)
   UNIT, -u UNIT   entries of these units only (repeatable); without -f, also
                   the lines of their latest exec processes found by PID (journald
                   stores the syslog lines of a process that exits at once
                   without its unit)
   --user          the login user's own journal (journalctl --user)
   -n N            the last N entries per host (default 50 unless --since/--until)
   --since T, --until T   time bounds, as journalctl takes them ("1 hour ago", "2026-11-23 17:00")
   -p PRIORITY     e.g. err, warning, 0..7, "err..warning"
   -g REGEX        entries whose message matches REGEX
   -f              follow

Reading the system journal needs root, or a login user in the group
systemd-journal (or adm); otherwise dt prints a fail line saying so (use
--sudo, or add the user to systemd-journal).`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// defaultJournalLines is -n when neither -n, --since nor --until is given.
const defaultJournalLines = 50

// Prepare implements Module.
func (m Journal) Prepare(args []string, opts Options) (Job, error) {
	fs := flag.NewFlagSet(m.Name(), flag.ContinueOnError)
	var j journalJob
	var units stringList
	n := fs.Int("n", -1, "")
	since := fs.String("since", "", "")
	until := fs.String("until", "", "")
	prio := fs.String("p", "", "")
	grep := fs.String("g", "", "")
	fs.Var(&units, "u", "")
	fs.BoolVar(&j.user, "user", false, "")
	fs.BoolVar(&j.follow, "f", false, "")
	rest, err := parseArgs(m.Name(), fs, args)
	if err != nil {
		return nil, err
	}
	units = append(units, rest...)
	if j.user && opts.Sudo {
		return nil, usagef(m.Name(), "--user with --sudo would read root's user journal; log in as the user instead (user@host in the inventory)")
	}
	words := []string{"journalctl"}
	if j.user {
		words = append(words, "--user")
	}
	words = append(words, "--no-pager", "-o", "json")
	switch {
	case *n >= 0:
		words = append(words, "-n", strconv.Itoa(*n))
	case *since == "" && *until == "" && !j.follow:
		words = append(words, "-n", strconv.Itoa(defaultJournalLines))
	}
	for _, o := range []struct{ flag, val string }{{"--since", *since}, {"--until", *until}, {"-p", *prio}, {"-g", *grep}} {
		if o.val != "" {
			words = append(words, o.flag, o.val)
		}
	}
	base := QuoteAll(words)
	if j.follow {
		words = append(words, "-f")
	}
	for _, u := range units {
		if u == "" || strings.ContainsAny(u, "\n\x00") {
			return nil, usagef(m.Name(), "bad unit name %q", u)
		}
		words = append(words, "-u", u)
	}
	j.cmd = QuoteAll(words)
	if j.follow {
		return j, nil
	}
	if len(units) > 0 && !slices.ContainsFunc(units, isUnitGlob) {
		// Also the lines of the units' latest exec processes by PID: see
		// unitPIDs. The second query's entries follow a marker line, and
		// Run keeps those that journald could not tie to another unit.
		sc := []string{"systemctl"}
		if j.user {
			sc = append(sc, "--user")
		}
		j.cmd += "; dt_rc=$?; echo " + pidQueryMark + "; " + unitPIDs(sc, units...) +
			`if [ -n "$pids" ]; then ` + base + " " + pidMatches + "; fi; exit $dt_rc"
		j.lines = *n
		if *n < 0 && *since == "" && *until == "" {
			j.lines = defaultJournalLines
		}
		for _, u := range units {
			j.units = append(j.units, unitName(u))
		}
	}
	return sortedJournal{j}, nil
}

// pidQueryMark separates the -u query's entries from those found by PID.
const pidQueryMark = "--dt-journal-by-pid--"

// isUnitGlob says whether journalctl -u would take u as a pattern, which
// "systemctl show" cannot look up.
func isUnitGlob(u string) bool { return strings.ContainsAny(u, "*?[") }

// unitSuffixes are the unit types; a name without one is a service, as
// journalctl and systemctl read it.
var unitSuffixes = []string{".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope"}

// unitName is u as journald records it in _SYSTEMD_UNIT.
func unitName(u string) string {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(u, s) {
			return u
		}
	}
	return u + ".service"
}

// journalJob runs journalctl on one host and turns each JSON entry into a
// record as it arrives.
type journalJob struct {
	cmd    string
	user   bool
	follow bool

	// units, when set, are the -u units whose exec processes' entries the
	// command also asks for by PID (after pidQueryMark); lines is then -n
	// (-1: no limit), applied again to the union of both queries.
	units []string
	lines int
}

// Unbounded implements UnboundedJob: following holds a host until the
// end, so every host must run at once.
func (j journalJob) Unbounded() bool { return j.follow }

// sortedJournal is a journalJob whose records Execute merges by time.
type sortedJournal struct{ journalJob }

// timestampLen is the length of the UTC timestamp that starts every entry
// record: "2006-01-02T15:04:05.000000Z".
const timestampLen = len("2006-01-02T15:04:05.000000Z")

const timestampLayout = "2006-01-02T15:04:05.000000Z"

// Less implements Sorter: entries by time (the fixed-width UTC timestamp
// sorts as text), then by host; notes and failures after every entry.
func (sortedJournal) Less(a, b output.Record) bool {
	ea, eb := isEntry(a), isEntry(b)
	if ea != eb {
		return ea
	}
	if ea {
		if c := bytes.Compare(a.Message[:timestampLen], b.Message[:timestampLen]); c != 0 {
			return c < 0
		}
	}
	return a.Host < b.Host
}

// isEntry tells a journal entry (formatEntry's "2006-01-02T15:04:05.000000Z
// ..." on an okay record) from notes and failures. Less calls it for every
// comparison, so it only looks at the timestamp's fixed punctuation.
func isEntry(r output.Record) bool {
	m := r.Message
	return r.Status == output.Okay && len(m) > timestampLen &&
		m[4] == '-' && m[10] == 'T' && m[19] == '.' && m[timestampLen-1] == 'Z' && m[timestampLen] == ' '
}

const noEntries = "-- no entries --"

// noAccessMark is what accessCheck prints on stderr when the login user
// cannot read the system journal.
const noAccessMark = "dt: journal: no access to the system journal"

// accessCheck precedes a system journalctl: with -o json journalctl says
// nothing when the user can only see its own entries, so a short-format
// probe of zero entries asks it for its hint first.
const accessCheck = `case "$(journalctl -n 0 --no-pager 2>&1 >/dev/null)" in ` +
	`*"not seeing messages from other users"*|*"insufficient permissions"*) echo "` + noAccessMark + `" >&2;; esac; `

func (j journalJob) Run(ctx context.Context, h *Host, emit func(output.Record)) {
	var (
		entries int
		byPID   bool
		union   = map[string]journalEntry{} // by cursor, when j.units is set
	)
	lines := &lineWriter{line: func(line []byte) {
		if string(line) == pidQueryMark {
			byPID = true
			return
		}
		e, ok := parseEntry(line)
		switch {
		case !ok:
		case j.units == nil:
			entries++
			emit(h.Okay(e.msg))
		case !byPID || e.lostUnit(j.units):
			union[e.cursor] = e
		}
	}}
	var stderr bytes.Buffer
	cmd := j.cmd
	if j.user {
		cmd = setRuntimeDir + "; export XDG_RUNTIME_DIR; " + cmd
	} else {
		cmd = accessCheck + cmd
	}
	if j.units != nil {
		defer func() {
			for _, e := range lastEntries(union, j.lines) {
				emit(h.Okay(e.msg))
			}
		}()
	}
	res, err := h.Run(ctx, runner.Command{Cmd: cmd, Stdout: lines, Stderr: &stderr})
	lines.flush()
	res.Output = stderr.Bytes()
	if err != nil {
		if j.follow && (runner.Stage(err) == output.StageInterrupt || runner.Stage(err) == output.StageTimeout) && h.connected() {
			return // the normal end of following
		}
		emit(h.Result(res, err))
		return
	}
	errText := string(stderr.Bytes())
	switch {
	case strings.Contains(errText, noAccessMark):
		msg := "cannot read the system journal as the login user (only its own entries were shown); " +
			"hint: add the user to group systemd-journal (or adm), or use --sudo"
		emit(h.Record(output.Fail, output.StageModule, []byte(msg), res.ExitCode))
	case res.ExitCode != 0:
		emit(h.Result(res, nil))
	case entries == 0 && len(union) == 0:
		emit(h.Okay([]byte(noEntries)))
	}
}

// journalEntry is one journalctl -o json entry, rendered.
type journalEntry struct {
	usec           int64
	cursor         string
	unit, userUnit string // _SYSTEMD_UNIT, _SYSTEMD_USER_UNIT
	msg            []byte // formatEntry's line
}

// lostUnit says whether an entry found by PID belongs with units: journald
// either lost its unit, or recorded one of them.
func (e journalEntry) lostUnit(units []string) bool {
	if e.unit == "" && e.userUnit == "" {
		return true
	}
	return slices.Contains(units, e.unit) || slices.Contains(units, e.userUnit)
}

// lastEntries returns the last n entries of m in time order (all when n is
// negative).
func lastEntries(m map[string]journalEntry, n int) []journalEntry {
	all := make([]journalEntry, 0, len(m))
	for _, e := range m {
		all = append(all, e)
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].usec != all[b].usec {
			return all[a].usec < all[b].usec
		}
		return all[a].cursor < all[b].cursor
	})
	if n >= 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// parseEntry reads one journalctl -o json line.
func parseEntry(line []byte) (journalEntry, bool) {
	var e map[string]json.RawMessage
	if err := json.Unmarshal(line, &e); err != nil {
		return journalEntry{}, false
	}
	usec, err := strconv.ParseInt(jsonString(e["__REALTIME_TIMESTAMP"]), 10, 64)
	if err != nil {
		return journalEntry{}, false
	}
	return journalEntry{
		usec:     usec,
		cursor:   jsonString(e["__CURSOR"]),
		unit:     jsonString(e["_SYSTEMD_UNIT"]),
		userUnit: jsonString(e["_SYSTEMD_USER_UNIT"]),
		msg:      formatEntry(e, usec),
	}, true
}

// formatEntry renders one journal entry as
// "2026-11-23T17:00:01.123456Z ident[pid]: message".
func formatEntry(e map[string]json.RawMessage, usec int64) []byte {
	ts := time.UnixMicro(usec).UTC().Format(timestampLayout)
	ident := jsonString(e["SYSLOG_IDENTIFIER"])
	if ident == "" {
		ident = jsonString(e["_COMM"])
	}
	pid := jsonString(e["_PID"])
	if pid == "" {
		pid = jsonString(e["SYSLOG_PID"])
	}
	var b bytes.Buffer
	b.WriteString(ts)
	if ident != "" {
		b.WriteString(" " + ident)
		if pid != "" {
			b.WriteString("[" + pid + "]")
		}
		b.WriteString(":")
	}
	b.WriteString(" ")
	b.Write(jsonBytes(e["MESSAGE"]))
	return b.Bytes()
}

// jsonString decodes a journal field that is a JSON string ("" otherwise).
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonBytes decodes a journal field, which journalctl gives as a string, or
// as an array of byte values when it is not valid UTF-8.
func jsonBytes(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	var bs []int
	if json.Unmarshal(raw, &bs) == nil {
		out := make([]byte, len(bs))
		for i, c := range bs {
			out[i] = byte(c)
		}
		return out
	}
	return nil
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush hands over a last line without a newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
}
