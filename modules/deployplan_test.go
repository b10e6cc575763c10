package modules

import (
	"fmt"
	"strings"
	"testing"
)

func TestPlanDeploy(t *testing.T) {
	for _, tt := range []struct {
		files, restart []string
		want           string // units: NAME[files][+restart]
		err            string
	}{
		{files: []string{"app.service"}, want: "app.service[app.service]"},
		{files: []string{"units/app.socket", "units/app.service"}, want: "app.socket[app.socket] app.service[app.service]"},
		{files: []string{"x/app.service.d/override.conf", "x/app.service"}, want: "app.service[app.service.d/override.conf,app.service]"},
		{files: []string{"nginx.service.d/10-limits.conf"}, restart: []string{"php-fpm", "nginx.service"}, want: "nginx.service[nginx.service.d/10-limits.conf]+restart php-fpm.service[]+restart"},
		{files: []string{"getty@.service"}, want: "getty@.service[getty@.service]"},
		{files: []string{"backup.timer", "backup.service"}, want: "backup.timer[backup.timer] backup.service[backup.service]"},
		{files: []string{"srv-data.mount"}, want: "srv-data.mount[srv-data.mount]"},
		{files: []string{"app.conf"}, err: "a drop-in is given as UNIT.d/NAME.conf"},
		{files: []string{"conf.d/app.conf"}, err: `drop-in directory "conf.d": "conf" is not a unit file name`},
		{files: []string{"app.service.d/override"}, err: `"override" is not a unit file name`},
		{files: []string{"app.txt"}, err: `"app.txt" is not a unit file name: want NAME.TYPE`},
		{files: []string{"app.scope"}, err: "is not a unit file name"},
		{files: []string{"a b.service"}, err: `is not a unit name (character ' ')`},
		{files: []string{"$(x).service"}, err: "is not a unit name"},
		{files: []string{".service"}, err: "is not a unit"},
		{files: []string{"a/app.service", "b/app.service"}, err: `"a/app.service" and "b/app.service" would both be deployed as app.service`},
		{files: []string{"app.service"}, restart: []string{"app@.service"}, err: "a template cannot be restarted; name an instance (app@NAME.service)"},
		{files: []string{"app.service"}, restart: []string{"x;y"}, err: `--restart "x;y"`},
	} {
		files, units, err := planDeploy(tt.files, tt.restart)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("planDeploy(%q, %q) = %v, want error %q", tt.files, tt.restart, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("planDeploy(%q, %q): %v", tt.files, tt.restart, err)
			continue
		}
		var got []string
		for _, u := range units {
			var rels []string
			for _, i := range u.Files {
				if files[i].Unit != u.Name || files[i].DropIn != strings.Contains(files[i].Rel, "/") {
					t.Errorf("%q: file %+v in unit %s", tt.files, files[i], u.Name)
				}
				rels = append(rels, files[i].Rel)
			}
			s := fmt.Sprintf("%s[%s]", u.Name, strings.Join(rels, ","))
			if u.Restart {
				s += "+restart"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("planDeploy(%q, %q) = %s, want %s", tt.files, tt.restart, g, tt.want)
		}
	}
}

func TestRestartable(t *testing.T) {
	for name, want := range map[string]bool{
		"app.service": true, "app.socket": true, "app.timer": true, "app.path": true,
		"app@.service": false, "app@x.service": true, "multi-user.target": false, "srv.mount": false,
	} {
		if got := restartable(name); got != want {
			t.Errorf("restartable(%q) = %v, want %v", name, got, want)
		}
	}
}
