package modules

// execProps are the "systemctl show" properties naming the unit's
// processes.
var execProps = []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecMainPID"}

// unitPIDs is a shell command that sets $pids to the PIDs of the units'
// latest exec processes (ExecStartPre=... pid=N ..., ExecMainPID=N), with
// sc the "systemctl [--user]" words. journald loses the unit of a process
// that exits within milliseconds (a daemon rejecting its config), so its
// lines can only be found by _PID; pidMatches turns $pids into the
// journalctl matches.
func unitPIDs(sc []string, units ...string) string {
	props := []string{"show"}
	for _, p := range execProps {
		props = append(props, "-p", p)
	}
	return "pids=$(" + QuoteAll(sc) + " " + QuoteAll(props) + " -- " + QuoteAll(units) +
		` 2>/dev/null | grep -o 'pid=[0-9]*\|MainPID=[0-9]*' | grep -o '[0-9]*$' | grep -vx 0 | sort -u); `
}

// pidMatches expands unitPIDs' $pids into journalctl's _PID=N matches.
const pidMatches = `$(for p in $pids; do echo "_PID=$p"; done)`
