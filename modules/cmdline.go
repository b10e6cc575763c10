package modules

import "strings"

// commandLine joins the arguments of ssh or sudo into the command line the
// remote shell runs. A line starting with '-' would be taken by that
// shell (sh -c, bash -c) for its own option and fail on every host with
// the shell's usage text: it is refused here, naming what was probably
// meant (an ssh or sudo option, as dtools passed them on).
func commandLine(module string, args []string) (string, error) {
	line := strings.Join(args, " ")
	if strings.TrimSpace(line) == "" {
		return "", usagef(module, "missing command; usage: dt PATTERN %s CMD [ARGS...]", module)
	}
	if strings.HasPrefix(line, "-") {
		opt := strings.Fields(line)[0]
		if module == "sudo" {
			return "", usagef(module, "%q is an option, not a command: dt runs CMD as root with sudo -n (-K for a password); for another user run dt PATTERN ssh 'sudo -n -u USER CMD'", opt)
		}
		return "", usagef(module, "%q is an option, not a command: dt passes no options to ssh; put them in ssh_config (-F FILE), and use dt -i for a terminal", opt)
	}
	return line, nil
}
