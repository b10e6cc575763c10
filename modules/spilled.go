package modules

import (
	"github.com/dtools/dt/output"
	"github.com/dtools/dt/runner"
)

// spilledResult is Result for a command whose output went to a spool file
// (runner.Command.SpillAfter): the same record, with the output left in
// the file as an output.Spilled message that the writers stream. The
// record takes over the result's reference to the spool.
func (h *Host) spilledResult(res runner.Result, err error) output.Record {
	sp := res.Spool
	n := sp.Len()
	msg := &output.Spilled{Spool: sp, N: n}
	var r output.Record
	switch {
	case err != nil:
		r = h.Result(runner.Result{ExitCode: res.ExitCode}, err)
		msg.Head = append(r.Message, "; output so far:\n"...)
		msg.N = n - trailing(sp, n, 1)
	case res.Signal != "":
		r = h.Record(output.Fail, output.StageExit, nil, -1)
		msg.Head = []byte("killed by signal " + res.Signal + "\n")
	case res.ExitCode != 0:
		r = h.Record(output.Fail, output.StageExit, nil, res.ExitCode)
		if hint := h.SudoHint(spoolHead(sp)); hint != "" {
			msg.N = n - trailing(sp, n, -1)
			msg.Tail = []byte(" (hint: " + hint + ")")
		}
	default:
		r = h.Okay(nil)
	}
	r.Message, r.Spilled = nil, msg
	return r
}

// spoolHead is the start of a spooled output, where sudo says why it
// refused.
func spoolHead(sp *output.Spool) []byte {
	b := make([]byte, 4096)
	k, _ := sp.ReadAt(b, 0)
	return b[:k]
}

// trailing counts the newlines at the end of the first n bytes of sp, at
// most max of them (max < 0: all).
func trailing(sp *output.Spool, n int64, max int) int64 {
	var count int64
	buf := make([]byte, 512)
	for n > 0 {
		from := n - int64(len(buf))
		if from < 0 {
			from = 0
		}
		k, _ := sp.ReadAt(buf[:n-from], from)
		chunk := buf[:k]
		for len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			if max >= 0 && count == int64(max) {
				return count
			}
			count++
			chunk = chunk[:len(chunk)-1]
		}
		if len(chunk) > 0 || k == 0 {
			return count
		}
		n = from
	}
	return count
}
