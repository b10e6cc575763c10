package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtools/dt/internal/fleet"
	"github.com/dtools/dt/output"
)

// stamped is a command that records, on the host, when it started and
// ended (the host's clock, in nanoseconds) in DIR/HOST.start and .end,
// around body.
func stamped(dir, body string) string {
	return fmt.Sprintf(`date +%%s%%N > %s/$DT_TEST_HOST.start; %s; rc=$?; date +%%s%%N > %s/$DT_TEST_HOST.end; exit $rc`, dir, body, dir)
}

// stamp reads the time a host wrote in DIR/HOST.SUFFIX; ok is false when
// the host never wrote it.
func stamp(t *testing.T, dir, host, suffix string) (time.Time, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, host+"."+suffix))
	if err != nil {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s.%s: %q", host, suffix, b)
	}
	return time.Unix(0, ns), true
}

// byStatus splits records into host sets by status.
func byStatus(recs map[string]output.Record) map[output.Status][]string {
	m := map[output.Status][]string{}
	for h, r := range recs {
		m[r.Status] = append(m[r.Status], h)
	}
	for _, hs := range m {
		sort.Strings(hs)
	}
	return m
}

// TestBatches: hosts run in consecutive batches in selection order; no
// host of a batch starts before every host of the batch before has ended
// (server-side clocks); percentages round down; a canary batch comes
// first.
func TestBatches(t *testing.T) {
	f := shared(t)
	order := allNames(f) // h001..h012, the inventory's order
	for _, tt := range []struct {
		flags []string
		sizes []int
	}{
		{[]string{"--batch", "4"}, []int{4, 4, 4}},
		{[]string{"--batch", "25%"}, []int{3, 3, 3, 3}},
		{[]string{"--batch", "40%"}, []int{4, 4, 4}}, // 4.8 rounds down
		{[]string{"--canary", "1", "--batch", "5"}, []int{1, 5, 5, 1}},
	} {
		dir := remoteDir(t, f)
		args := append(append([]string{}, tt.flags...), "all:", "ssh", stamped(dir, "sleep 0.2"))
		r := dt(t, f, nil, "", args...)
		if r.code != 0 || len(records(t, r.stdout)) != len(order) {
			t.Fatalf("%v: exit %d, %d records", tt.flags, r.code, len(records(t, r.stdout)))
		}
		at := 0
		var prevEnd time.Time
		for k, size := range tt.sizes {
			batch := order[at : at+size]
			at += size
			var firstStart, lastEnd time.Time
			for _, h := range batch {
				s, ok1 := stamp(t, dir, h, "start")
				e, ok2 := stamp(t, dir, h, "end")
				if !ok1 || !ok2 {
					t.Fatalf("%v: %s did not run", tt.flags, h)
				}
				if firstStart.IsZero() || s.Before(firstStart) {
					firstStart = s
				}
				if e.After(lastEnd) {
					lastEnd = e
				}
			}
			if k > 0 && firstStart.Before(prevEnd) {
				t.Errorf("%v: batch %d (%v) started %v before batch %d ended", tt.flags, k+1, batch, prevEnd.Sub(firstStart), k)
			}
			prevEnd = lastEnd
		}
	}
}

// TestMaxFail: the failure budget at its boundary (N failures with
// --max-fail N go on; N+1 stop), in numbers and percentages, and skip
// lines for exactly the hosts never started; out:fail,skip takes up a
// stopped rollout where it left off.
func TestMaxFail(t *testing.T) {
	f := shared(t)
	all := allNames(f)
	// h002 and h003 (both in batch 1 of 3) fail.
	failing := "case $DT_TEST_HOST in h002|h003) echo bad; exit 1;; esac; echo good"
	for _, tt := range []struct {
		flags   []string
		skipped int    // hosts of the last batches never started
		why     string // their skip message
	}{
		{[]string{"--batch", "4", "--max-fail", "2"}, 0, ""},
		{[]string{"--batch", "4", "--max-fail", "1"}, 8, "not started: 2 hosts failed, more than --max-fail 1 (stopped after batch 1 of 3)"},
		{[]string{"--batch", "4", "--max-fail", "0"}, 8, "not started: 2 hosts failed, more than --max-fail 0 (stopped after batch 1 of 3)"},
		{[]string{"--batch", "4", "--max-fail", "10%"}, 8, "not started: 2 hosts failed, more than --max-fail 10% (1 host) (stopped after batch 1 of 3)"},
		{[]string{"--batch", "4", "--max-fail", "17%"}, 0, ""}, // 2 hosts
		{[]string{"--canary", "2", "--batch", "5", "--max-fail", "0"}, 10, "not started: 1 host failed, more than --max-fail 0 (stopped after batch 1 of 3)"},
	} {
		dir := remoteDir(t, f)
		args := append(append([]string{}, tt.flags...), "all:", "ssh", stamped(dir, failing))
		r := dt(t, f, nil, "", args...)
		recs := records(t, r.stdout)
		if r.code != 1 || len(recs) != len(all) {
			t.Errorf("%v: exit %d, %d records for %d hosts", tt.flags, r.code, len(recs), len(all))
		}
		st := byStatus(recs)
		wantFail := []string{"h002", "h003"}
		if tt.flags[0] == "--canary" {
			wantFail = []string{"h002"} // the canary batch is h001, h002
		}
		if !equal(st[output.Fail], wantFail) {
			t.Errorf("%v: failed %v, want %v", tt.flags, st[output.Fail], wantFail)
		}
		if len(st[output.Skip]) != tt.skipped {
			t.Errorf("%v: %d skipped, want %d", tt.flags, len(st[output.Skip]), tt.skipped)
		}
		for _, h := range all {
			_, ran := stamp(t, dir, h, "start")
			rec := recs[h]
			if ran == (rec.Status == output.Skip) {
				t.Errorf("%v: %s ran=%v but its line is %s %q", tt.flags, h, ran, rec.Status, rec.Message)
			}
			if rec.Status == output.Skip && string(rec.Message) != tt.why {
				t.Errorf("%v: %s skip message %q, want %q", tt.flags, h, rec.Message, tt.why)
			}
		}
		if tt.skipped == 0 {
			continue
		}
		// Resume: the failed and the skipped hosts, and only them.
		dir2 := remoteDir(t, f)
		r2 := dt(t, f, nil, r.stdout, "out:fail,skip", "ssh", stamped(dir2, "echo again"))
		again := records(t, r2.stdout)
		want := append(append([]string{}, st[output.Fail]...), st[output.Skip]...)
		sort.Strings(want)
		if r2.code != 0 || !equal(names(again), want) {
			t.Errorf("%v: resume ran %v, want %v", tt.flags, names(again), want)
		}
	}
}

// TestStagger: the i-th host of a batch starts no earlier than i times the
// stagger after dt was started (its own clock stamps when its command ran,
// after its login: a lower bound whatever the logins cost under load).
func TestStagger(t *testing.T) {
	f := shared(t)
	dir := remoteDir(t, f)
	launched := time.Now()
	r := dt(t, f, nil, "", "--batch", "4", "--stagger", "300ms", "sys:h001,h002,h003,h004", "ssh", stamped(dir, "true"))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for i, h := range []string{"h001", "h002", "h003", "h004"} {
		s, ok := stamp(t, dir, h, "start")
		if !ok {
			t.Fatalf("%s did not run", h)
		}
		if after, want := s.Sub(launched), time.Duration(i)*300*time.Millisecond; after < want {
			t.Errorf("host %d (%s) ran %v after dt started, before its stagger slot at %v", i+1, h, after, want)
		}
	}
}

// TestGates: a gate that passes late makes the host okay; one that never
// passes fails it with stage gate and the gate's last output, after the
// module's work was done; a host whose module failed is not gated.
func TestGates(t *testing.T) {
	f := shared(t)
	dir := remoteDir(t, f)
	// The module starts something that is ready 1.5s later.
	work := fmt.Sprintf("(sleep 1.5; touch %s/$DT_TEST_HOST.ready) >/dev/null 2>&1 & echo deployed", dir)
	gate := fmt.Sprintf("test -e %s/$DT_TEST_HOST.ready || { echo not ready yet; exit 3; }", dir)
	r := dt(t, f, nil, "", "--gate", gate, "--gate-interval", "200ms", "--gate-timeout", "10s", "sys:h001,h002", "ssh", work)
	recs := records(t, r.stdout)
	for _, h := range []string{"h001", "h002"} {
		if rec := recs[h]; rec.Status != output.Okay || string(rec.Message) != "deployed" {
			t.Errorf("late gate: %s %s %q", h, rec.Status, rec.Message)
		}
	}
	if r.code != 0 {
		t.Errorf("late gate: exit %d", r.code)
	}

	start := time.Now()
	r = dt(t, f, nil, "", "--gate", "echo still down; exit 7", "--gate-interval", "300ms", "--gate-timeout", "2s", "sys:h003", "ssh", "echo deployed")
	rec := records(t, r.stdout)["h003"]
	if r.code != 1 || rec.Status != output.Fail || !strings.HasPrefix(string(rec.Message), "gate: 'echo still down; exit 7' did not pass within 2s (") ||
		!strings.Contains(string(rec.Message), "last: exit 7: still down); deployed") {
		t.Errorf("gate never passes: exit %d %s %q", r.code, rec.Status, rec.Message)
	}
	// It gives up at its timeout (the last try starts before it), not
	// at dt's own two-minute test limit.
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("gate never passes: took %v, want about 2s", took)
	}

	// A try cut off by the deadline does not hide the answer before it.
	slow := filepath.Join(dir, "slow")
	r = dt(t, f, nil, "", "--gate", "if [ -e "+slow+" ]; then sleep 5; fi; touch "+slow+"; echo down; exit 7",
		"--gate-interval", "200ms", "--gate-timeout", "1500ms", "sys:h003", "ssh", "echo deployed")
	if rec := records(t, r.stdout)["h003"]; r.code != 1 || !strings.Contains(string(rec.Message), " tries; last: exit 7: down); deployed") {
		t.Errorf("gate cut off: exit %d %q", r.code, rec.Message)
	}

	marker := filepath.Join(dir, "gated")
	r = dt(t, f, nil, "", "--gate", "touch "+marker, "sys:h004", "ssh", "exit 4")
	if rec := records(t, r.stdout)["h004"]; rec.Status != output.Fail || string(rec.Message) != "exit 4" {
		t.Errorf("failed module: %s %q", rec.Status, rec.Message)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the gate ran on a host whose module failed")
	}
}

// TestRolloutInterrupted: Ctrl-C during a rollout stops the running batch
// as any run stops, and every host of the later batches gets a skip line;
// exit 130.
func TestRolloutInterrupted(t *testing.T) {
	f := shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dtBin, "--batch", "3", "all:", "ssh", "sleep 30")
	cmd.Env = f.Env()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want 130", err)
	}
	recs := records(t, out.String())
	st := byStatus(recs)
	if len(recs) != len(f.Hosts) || !equal(st[output.Fail], []string{"h001", "h002", "h003"}) || len(st[output.Skip]) != len(f.Hosts)-3 {
		t.Fatalf("records by status: %v\n%s", st, out.String())
	}
	for _, h := range st[output.Skip] {
		if msg := string(recs[h].Message); msg != "not started: interrupted (stopped before batch 2 of 4)" {
			t.Errorf("%s: %q", h, msg)
		}
	}
	for _, h := range st[output.Fail] {
		if msg := string(recs[h].Message); !strings.HasPrefix(msg, "interrupt: interrupted") {
			t.Errorf("%s: %q", h, msg)
		}
	}
}

// TestCompassRollout is the scenario rolling runs are for: 300 hosts,
// --batch 10% --max-fail 2%, 7 hosts failing in the third batch. The run
// stops after that batch: fail lines for the 7, okay for the rest of
// batches 1-3, skip lines for every other host, exit 1.
func TestCompassRollout(t *testing.T) {
	f := fleet.StartTest(t, fleet.Options{N: 300})
	var order []string
	for _, h := range f.Hosts {
		order = append(order, h.Name)
	}
	bad := append([]string{}, order[60:67]...) // batch 3 is hosts 61..90
	cmd := "case $DT_TEST_HOST in " + strings.Join(bad, "|") + ") echo 'health check failed' >&2; exit 1;; esac; echo ok"
	r := dt(t, f, nil, "", "--batch", "10%", "--max-fail", "2%", "all:", "ssh", cmd)
	recs := records(t, r.stdout)
	st := byStatus(recs)
	sort.Strings(bad)
	if r.code != 1 || len(recs) != 300 {
		t.Fatalf("exit %d, %d records", r.code, len(recs))
	}
	if !equal(st[output.Fail], bad) {
		t.Errorf("failed %v, want %v", st[output.Fail], bad)
	}
	if len(st[output.Okay]) != 90-7 || len(st[output.Skip]) != 210 {
		t.Errorf("%d okay, %d skipped; want 83 and 210", len(st[output.Okay]), len(st[output.Skip]))
	}
	for _, h := range order[90:] {
		if rec := recs[h]; rec.Status != output.Skip || string(rec.Message) != "not started: 7 hosts failed, more than --max-fail 2% (6 hosts) (stopped after batch 3 of 10)" {
			t.Errorf("%s: %s %q", h, rec.Status, rec.Message)
		}
	}
	if n, _ := f.TotalHandshakes(); n != 90 {
		t.Errorf("%d logins, want 90 (batches 1-3 only)", n)
	}
}
