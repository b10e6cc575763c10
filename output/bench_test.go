package output

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the hot paths a large run goes through: every host's output
// is escaped once and written as one record by up to fanout goroutines at
// once. BenchmarkEscape, BenchmarkParse, BenchmarkOmniWrite,
// BenchmarkOmniWriteColor1KiB and BenchmarkJSONWrite live next to their
// tests; see BENCHMARKS.md for how to run them.

// plainText is 1 KiB of output with nothing to escape (the common case).
var plainText = func() []byte {
	line := "Mon Nov 16 23:54:04 CET 2009 load average: 0.01, 0.02, 0.00\n"
	return []byte(strings.Repeat(line, 1024/len(line)+1)[:1024])
}()

// bigText is 64 KiB of mixed output (a log tail, a long listing).
var bigText = bytes.Repeat(mixedText, 64)

// binaryText is 1 KiB that is not UTF-8 (JSON falls back to output_b64).
var binaryText = func() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = byte(i*7 + 0x80)
	}
	return b
}()

func BenchmarkEscapePlain1KiB(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(plainText)))
	for b.Loop() {
		_ = Escape(plainText)
	}
}

func BenchmarkEscape64KiB(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(bigText)))
	for b.Loop() {
		_ = Escape(bigText)
	}
}

func BenchmarkUnescape1KiB(b *testing.B) {
	s := Escape(mixedText)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := Unescape(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendLineHostname is the record of `dt ... ssh hostname`: the
// smallest real record, into a reused buffer.
func BenchmarkAppendLineHostname(b *testing.B) {
	r := Record{Status: Okay, Module: "ssh", Host: "h0001", Message: []byte("h0001\n")}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLine(buf[:0], r)
	}
}

func BenchmarkOmniWrite1KiB(b *testing.B) {
	w := NewOmni(io.Discard, false)
	r := Record{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: mixedText}
	b.ReportAllocs()
	b.SetBytes(int64(len(mixedText)))
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONWrite1KiB(b *testing.B) {
	w := NewJSON(io.Discard)
	r := Record{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: mixedText,
		Started: time.Unix(1258412044, 0), Duration: 12500 * time.Microsecond}
	b.ReportAllocs()
	b.SetBytes(int64(len(mixedText)))
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONWriteBinary1KiB(b *testing.B) {
	w := NewJSON(io.Discard)
	r := Record{Status: Okay, Module: "ssh", Host: "myhostlinux1.domain", Message: binaryText,
		Started: time.Unix(1258412044, 0), Duration: 12500 * time.Microsecond}
	b.ReportAllocs()
	b.SetBytes(int64(len(binaryText)))
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOmniWriteParallel is many hosts finishing at once: GOMAXPROCS
// goroutines share one writer (as dt's fanout goroutines do).
func BenchmarkOmniWriteParallel(b *testing.B) {
	w := NewOmni(io.Discard, false)
	r := Record{Status: Okay, Module: "ssh", Host: "h0001", Message: []byte("h0001\n")}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Write(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkJSONWriteParallel(b *testing.B) {
	w := NewJSON(io.Discard)
	r := Record{Status: Okay, Module: "ssh", Host: "h0001", Message: []byte("h0001\n"),
		Started: time.Unix(1258412044, 0), Duration: 12500 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Write(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
