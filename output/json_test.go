package output

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	renderAll(t, NewJSON(&b))
	checkGolden(t, "json.golden", b.Bytes())
}

func TestJSONFields(t *testing.T) {
	var b bytes.Buffer
	renderAll(t, NewJSON(&b))
	wantKeys := []string{"host", "module", "status", "stage", "exit_code", "output", "started", "duration_ms"}

	sc := bufio.NewScanner(&b)
	for i := 0; sc.Scan(); i++ {
		line := sc.Bytes()
		g := goldenRecords[i]

		// Key order, and output_b64 only for invalid UTF-8.
		dec := json.NewDecoder(bytes.NewReader(line))
		var keys []string
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		want := wantKeys
		if !utf8.Valid(g.Message) {
			want = append(append(append([]string{}, wantKeys[:6]...), "output_b64"), wantKeys[6:]...)
		}
		if strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Errorf("line %d keys %v, want %v", i+1, keys, want)
		}

		var v struct {
			Host       string  `json:"host"`
			Module     string  `json:"module"`
			Status     string  `json:"status"`
			Stage      string  `json:"stage"`
			ExitCode   int     `json:"exit_code"`
			Output     string  `json:"output"`
			OutputB64  string  `json:"output_b64"`
			Started    string  `json:"started"`
			DurationMS float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if v.Host != g.Host || v.Module != g.Module || v.Status != string(g.Status) || v.Stage != g.Stage || v.ExitCode != g.ExitCode {
			t.Errorf("line %d = %+v, want fields of %+v", i+1, v, g)
		}
		if utf8.Valid(g.Message) {
			if v.Output != string(g.Message) {
				t.Errorf("line %d output %q, want %q", i+1, v.Output, g.Message)
			}
		} else {
			raw, err := base64.StdEncoding.DecodeString(v.OutputB64)
			if err != nil || !bytes.Equal(raw, g.Message) {
				t.Errorf("line %d output_b64 decodes to %q, %v; want %q", i+1, raw, err, g.Message)
			}
			if v.Output != strings.ToValidUTF8(string(g.Message), "\uFFFD") {
				t.Errorf("line %d output %q", i+1, v.Output)
			}
		}
		started, err := time.Parse(time.RFC3339Nano, v.Started)
		if err != nil || !started.Equal(g.Started) || started.Location() != time.UTC {
			t.Errorf("line %d started %q (%v), want %v in UTC", i+1, v.Started, err, g.Started)
		}
		if d := time.Duration(v.DurationMS * float64(time.Millisecond)); d != g.Duration {
			t.Errorf("line %d duration_ms %v = %v, want %v", i+1, v.DurationMS, d, g.Duration)
		}
	}
}

func TestJSONNoHTMLEscape(t *testing.T) {
	var b bytes.Buffer
	_ = NewJSON(&b).Write(Record{Status: Okay, Host: "h", Module: "m", Message: []byte("<a & b>"), Started: t0, Duration: 12500 * time.Microsecond})
	want := `{"host":"h","module":"m","status":"okay","stage":"","exit_code":0,"output":"<a & b>","started":"2009-11-16T22:54:04.5Z","duration_ms":12.5}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}

func BenchmarkJSONWrite(b *testing.B) {
	w := NewJSON(io.Discard)
	r := goldenRecords[1]
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

// C1 controls leave the JSON writer as \u escapes, so a record printed on
// a terminal cannot drive it; the decoded string is unchanged.
func TestJSONEscapesC1(t *testing.T) {
	var b bytes.Buffer
	msg := "A\u009b2JB\u0085C é €"
	if err := NewJSON(&b).Write(Record{Status: Okay, Module: "ssh", Host: "h\u009b", Message: []byte(msg)}); err != nil {
		t.Fatal(err)
	}
	line := b.String()
	if strings.Contains(line, "\u009b") || strings.Contains(line, "\u0085") || !strings.Contains(line, `A\u009b2JB\u0085C é €`) || !strings.Contains(line, `"host":"h\u009b"`) {
		t.Fatalf("line %q", line)
	}
	var v struct{ Host, Output string }
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Output != msg || v.Host != "h\u009b" {
		t.Errorf("decoded %q %q", v.Host, v.Output)
	}
}
