package main

// dtoolsModules maps the names of dtools' modules that dt has under
// another name, or does another way, to what to type instead (README,
// "Coming from dtools").
var dtoolsModules = map[string]string{
	"scp":       "dtools' scp is dt's copy: dt PATTERN copy SRC... DEST",
	"rscp":      "dtools' rscp is dt's fetch: dt PATTERN fetch REMOTE... DIR (files land in DIR/HOST/)",
	"keyscan":   "dtools' keyscan is part of dt's add: dt --host-keys accept-new PATTERN add [TAG...]",
	"ipmitool":  "run it here once per host with local: dt PATTERN local ipmitool -H {host}.ipmi ...",
	"redis":     "run redis-cli on the hosts with ssh: dt PATTERN ssh redis-cli ...",
	"dthost":    "dtools' dthost filter is dt's --view host (dt view host FILE for saved output)",
	"dtstatus":  "dtools' dtstatus filter is dt's --view status (dt view status FILE for saved output)",
	"dtcompact": "dtools' dtcompact filter is dt's --view compact (dt view compact FILE for saved output)",
}

// moduleHint is the hint for an unknown module name: what dt calls a
// dtools module, else none (the error lists the modules).
func moduleHint(name string) string {
	return dtoolsModules[name]
}
