package modules

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// unitTypes are the unit types deploy takes files of, and which of them it
// restarts when they change. The others (targets, slices, mounts...) take
// effect with daemon-reload, or are not restarted on a whim (a mount unit):
// --restart names them when they should be.
var unitTypes = map[string]bool{
	"service": true, "socket": true, "timer": true, "path": true,
	"target": false, "slice": false, "mount": false, "automount": false, "swap": false,
}

// deployFile is one FILE argument of deploy: a unit file or a drop-in.
type deployFile struct {
	Local  string // local path
	Rel    string // path under the unit directory: "app.service" or "app.service.d/override.conf"
	Unit   string // the unit it belongs to
	DropIn bool
}

// deployUnit is one unit deploy reports on: one line per host.
type deployUnit struct {
	Name    string
	Files   []int // indexes into the plan's files, in argument order
	Restart bool  // --restart names it
}

// template says whether name is a template unit ("app@.service"): it is
// never shown, enabled or restarted itself, only its instances are.
func template(name string) bool {
	i := strings.LastIndexByte(name, '.')
	return i > 0 && name[i-1] == '@'
}

// unitType returns the type of a unit name ("service"), "" if it has none.
func unitType(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	return name[i+1:]
}

// restartable says whether deploy restarts the unit when its files change.
func restartable(name string) bool {
	return unitTypes[unitType(name)] && !template(name)
}

// checkUnitName says why name is not a unit name deploy takes, or nil:
// systemd's characters (letters, digits, ":-_.\@"), one "@" at most, and a
// known type.
func checkUnitName(name string) error {
	if name == "" || len(name) > 255 {
		return errors.New("not a unit name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return fmt.Errorf("%q is not a unit name (character %q)", name, c)
		}
	}
	if strings.Count(name, "@") > 1 || strings.HasPrefix(name, "@") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") {
		return fmt.Errorf("%q is not a unit name", name)
	}
	t := unitType(name)
	if _, ok := unitTypes[t]; !ok || len(name) == len(t)+1 {
		return fmt.Errorf("%q is not a unit file name: want NAME.TYPE, TYPE one of %s", name, strings.Join(sortedKeys(unitTypes), ", "))
	}
	return nil
}

// parseDeployFile reads a FILE argument: its base name is a unit file
// name ("app.service"), or it is a drop-in, "UNIT.d/NAME.conf".
func parseDeployFile(local string) (deployFile, error) {
	base := filepath.Base(local)
	if strings.HasSuffix(base, ".conf") {
		dir := filepath.Base(filepath.Dir(local))
		unit, ok := strings.CutSuffix(dir, ".d")
		if !ok || filepath.Dir(local) == "." {
			return deployFile{}, fmt.Errorf("%q: a drop-in is given as UNIT.d/NAME.conf (for example app.service.d/override.conf)", local)
		}
		if err := checkUnitName(unit); err != nil {
			return deployFile{}, fmt.Errorf("%q: drop-in directory %q: %v", local, dir, err)
		}
		if err := checkPathComponent(base); err != nil {
			return deployFile{}, fmt.Errorf("%q: %v", local, err)
		}
		return deployFile{Local: local, Rel: path.Join(dir, base), Unit: unit, DropIn: true}, nil
	}
	if err := checkUnitName(base); err != nil {
		return deployFile{}, fmt.Errorf("%q: %v", local, err)
	}
	return deployFile{Local: local, Rel: base, Unit: base}, nil
}

// restartName turns a --restart argument into a unit name: "app" is
// "app.service", as systemctl takes it.
func restartName(s string) (string, error) {
	name := s
	if _, ok := unitTypes[unitType(s)]; !ok {
		name = s + ".service"
	}
	if err := checkUnitName(name); err != nil {
		return "", fmt.Errorf("--restart %q: %v", s, err)
	}
	if template(name) {
		return "", fmt.Errorf("--restart %q: a template cannot be restarted; name an instance (%s)", s, strings.Replace(name, "@.", "@NAME.", 1))
	}
	return name, nil
}

// planDeploy turns deploy's arguments into files and the units they make
// up, one unit per name in the order first named: unit files and drop-ins,
// then --restart units.
func planDeploy(locals, restart []string) ([]deployFile, []deployUnit, error) {
	var files []deployFile
	var units []deployUnit
	index := map[string]int{}
	unit := func(name string) *deployUnit {
		i, ok := index[name]
		if !ok {
			i = len(units)
			index[name] = i
			units = append(units, deployUnit{Name: name})
		}
		return &units[i]
	}
	seen := map[string]string{}
	for _, l := range locals {
		f, err := parseDeployFile(l)
		if err != nil {
			return nil, nil, err
		}
		if prev, dup := seen[f.Rel]; dup {
			return nil, nil, fmt.Errorf("%q and %q would both be deployed as %s", prev, l, f.Rel)
		}
		seen[f.Rel] = l
		u := unit(f.Unit)
		u.Files = append(u.Files, len(files))
		files = append(files, f)
	}
	for _, r := range restart {
		name, err := restartName(r)
		if err != nil {
			return nil, nil, err
		}
		unit(name).Restart = true
	}
	return files, units, nil
}
