package modules

import (
	"errors"
	"flag"
	"io"
	"sort"
)

// sortedKeys returns m's keys in order, for "valid values are" messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseArgs parses a module's flags wherever they appear among its
// arguments ("restart --now app" and "--now restart app" alike) and returns
// the rest in order. Everything after "--" is an argument even if it looks
// like a flag, so a unit named "--now" can still be given.
func parseArgs(module string, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usagef(module, "see dt help %s", module)
			}
			return nil, usagef(module, "%v", err)
		}
		left := fs.Args()
		consumed := len(args) - len(left)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(rest, left...), nil
		}
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}
