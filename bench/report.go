package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// stat is the median and spread of one measure over a cell's runs.
type stat struct{ Med, Min, Max float64 }

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Med: med, Min: s[0], Max: s[len(s)-1]}
}

// summary is a cell's runs, summarised.
type summary struct {
	cell
	Runs         int     `json:"runs"`
	Fanout       int     `json:"fanout"`
	Wall         stat    `json:"wall_s"`
	ClientCPU    stat    `json:"client_cpu_s"`
	ServerCPU    stat    `json:"server_cpu_s"`
	PeakRSS      stat    `json:"peak_rss_kib"`
	PeakPSS      stat    `json:"peak_pss_kib"`
	Handshakes   stat    `json:"handshakes"`
	FailedRuns   int     `json:"failed_runs"`    // runs with a failed host or a non-zero exit
	MaxFailed    int     `json:"max_failed"`     // most failed hosts in one run
	IdleRSSKiB   int64   `json:"idle_rss_kib"`   // dt
	KiBPerFlight float64 `json:"kib_per_flight"` // dt: (peak RSS - idle RSS) / hosts in flight
}

func summarize(results []runResult) []summary {
	by := map[cell][]runResult{}
	var order []cell
	for _, r := range results {
		if _, ok := by[r.cell]; !ok {
			order = append(order, r.cell)
		}
		by[r.cell] = append(by[r.cell], r)
	}
	var out []summary
	for _, c := range order {
		rs := by[c]
		s := summary{cell: c, Runs: len(rs), Fanout: rs[0].Fanout, IdleRSSKiB: rs[0].IdleRSSKiB}
		var wall, ccpu, scpu, rss, pss, hs []float64
		for _, r := range rs {
			wall = append(wall, r.WallS)
			ccpu = append(ccpu, r.ClientCPUS)
			scpu = append(scpu, r.ServerCPUS)
			rss = append(rss, float64(r.PeakRSSKiB))
			pss = append(pss, float64(r.PeakPSSKiB))
			hs = append(hs, float64(r.Handshakes))
			if r.Failed > 0 || r.ExitStatus != 0 {
				s.FailedRuns++
			}
			s.MaxFailed = max(s.MaxFailed, r.Failed)
		}
		s.Wall, s.ClientCPU, s.ServerCPU = statOf(wall), statOf(ccpu), statOf(scpu)
		s.PeakRSS, s.PeakPSS, s.Handshakes = statOf(rss), statOf(pss), statOf(hs)
		if c.Tool == "dt" && s.IdleRSSKiB > 0 {
			s.KiBPerFlight = (s.PeakRSS.Med - float64(s.IdleRSSKiB)) / float64(min(s.Fanout, rs[0].Hosts))
		}
		out = append(out, s)
	}
	return out
}

// writeResults writes runs.json, runs.csv, summary.json and summary.md.
func writeResults(dir string, c config, machine string, results []runResult) error {
	sums := summarize(results)
	for name, v := range map[string]any{"runs.json": results, "summary.json": sums} {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "runs.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"size", "latency_ms", "job", "tool", "mode", "rep", "fanout", "wall_s", "client_cpu_s", "client_user_s", "client_sys_s",
		"keeper_cpu_s", "server_cpu_s", "peak_rss_kib", "peak_pss_kib", "max_procs", "idle_rss_kib", "handshakes", "invocations", "failed_hosts", "exit_status", "note"})
	for _, r := range results {
		_ = w.Write([]string{strconv.Itoa(r.Size), strconv.Itoa(r.Latency), r.Job, r.Tool, r.Mode, strconv.Itoa(r.Rep), strconv.Itoa(r.Fanout),
			ff(r.WallS), ff(r.ClientCPUS), ff(r.ClientUserS), ff(r.ClientSysS), ff(r.KeeperCPUS), ff(r.ServerCPUS),
			strconv.FormatInt(r.PeakRSSKiB, 10), strconv.FormatInt(r.PeakPSSKiB, 10), strconv.Itoa(r.MaxProcs),
			strconv.FormatInt(r.IdleRSSKiB, 10), strconv.Itoa(r.Handshakes), strconv.Itoa(r.Invocation),
			strconv.Itoa(r.Failed), strconv.Itoa(r.ExitStatus), r.Note})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	md := markdown(c, machine, sums, runtime.NumCPU())
	return os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644)
}

func ff(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

type sizeJob struct {
	size int
	job  string
	lat  int
}

// markdown renders the summary tables: one per fleet size and job, dt
// first, with the limit and dt's ratios to every rival.
func markdown(c config, machine string, sums []summary, cores int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Reps per cell: %d (medians; min–max in brackets). dt fanout %d.\n\n", machine, c.reps, c.fanout)
	groups := map[sizeJob][]summary{}
	var keys []sizeJob
	for _, s := range sums {
		k := sizeJob{s.Size, s.Job, s.Latency}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].size != keys[j].size {
			return keys[i].size < keys[j].size
		}
		if keys[i].lat != keys[j].lat {
			return keys[i].lat < keys[j].lat
		}
		return jobIndex(keys[i].job) < jobIndex(keys[j].job)
	})
	var head strings.Builder
	head.WriteString("| hosts | delay ms | job | limit s | dt wall s | dt ÷ limit | dt warm wall s | warm ÷ cold | warm logins | best tuned rival | dt ÷ it (wall) | warm ÷ it | best default rival | dt ÷ it (wall) | dt client CPU ÷ pdsh tuned | dt sshd ms/login ÷ pdsh tuned | dt logins/host | dt KiB/in-flight host | failures |\n")
	head.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|\n")
	var detail strings.Builder
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(i, j int) bool { return toolIndex(g[i]) < toolIndex(g[j]) })
		limit := -1.0
		for _, s := range g {
			// A warm run logs in nowhere: the limit is what the logins cost.
			if s.Mode != modeWarm && s.FailedRuns == 0 && (limit < 0 || s.ServerCPU.Med < limit) {
				limit = s.ServerCPU.Med
			}
		}
		limit /= float64(cores)
		// dt's default (cold) mode is the reference its other modes and
		// the rivals are compared with.
		dt, warm := find(g, "dt", modeDT), find(g, "dt", modeWarm)
		if dt == nil {
			for i := range g {
				if g[i].Tool == "dt" && g[i].Mode != modeWarm {
					dt = &g[i]
					break
				}
			}
		}
		warmWall, warmLogins := "–", "–"
		if warm != nil {
			warmWall, warmLogins = fmt.Sprintf("%.2f", warm.Wall.Med), fmt.Sprintf("%.0f", warm.Handshakes.Med)
		}
		bestTuned, bestDefault, pdshTuned := best(g, modeTuned), best(g, modeDefault), find(g, "pdsh", modeTuned)
		failures := "none"
		var bad []string
		for _, s := range g {
			if s.FailedRuns > 0 {
				bad = append(bad, fmt.Sprintf("%s/%s: %d runs (max %d hosts)", s.Tool, s.Mode, s.FailedRuns, s.MaxFailed))
			}
		}
		if len(bad) > 0 {
			failures = strings.Join(bad, ", ")
		}
		if dt != nil {
			fmt.Fprintf(&head, "| %d | %d | %s | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s |\n",
				k.size, k.lat, k.job, limit, dt.Wall.Med, ratio(dt.Wall.Med, limit),
				warmWall, ratioS(warm, dt, wallOf), warmLogins,
				name(bestTuned), ratioS(dt, bestTuned, wallOf), ratioS(warm, bestTuned, wallOf), name(bestDefault), ratioS(dt, bestDefault, wallOf),
				ratioS(dt, pdshTuned, cpuOf), ratioS(dt, pdshTuned, msPerLogin),
				dt.Handshakes.Med/float64(k.size), kib(dt.KiBPerFlight), failures)
		}

		delay := ""
		if k.lat > 0 {
			delay = fmt.Sprintf(", %d ms each way", k.lat)
		}
		fmt.Fprintf(&detail, "\n#### %d hosts%s, `%s` (limit = least sshd CPU ÷ %d cores = %.2f s)\n\n", k.size, delay, k.job, cores, limit)
		detail.WriteString("| tool | mode | fanout | wall s | client CPU s | sshd CPU s | sshd ms/login | logins | peak RSS MiB | peak PSS MiB | failed runs | dt ÷ this: wall | client CPU |\n")
		detail.WriteString("|---|---|---:|---|---|---|---:|---:|---|---:|---:|---:|---:|\n")
		for i := range g {
			s := &g[i]
			fmt.Fprintf(&detail, "| %s | %s | %d | %s | %s | %s | %.1f | %.0f | %s | %.1f | %d | %s | %s |\n",
				s.Tool, s.Mode, s.Fanout, spread(s.Wall, 1), spread(s.ClientCPU, 1), spread(s.ServerCPU, 1),
				msPerLogin(s), s.Handshakes.Med, spread(scale(s.PeakRSS, 1.0/1024), 1), s.PeakPSS.Med/1024, s.FailedRuns,
				ratioS(dt, s, wallOf), ratioS(dt, s, cpuOf))
		}
	}
	b.WriteString(head.String())
	b.WriteString(detail.String())
	return b.String()
}

func jobIndex(name string) int {
	for i, j := range jobs {
		if j.name == name {
			return i
		}
	}
	return len(jobs)
}

func toolIndex(s summary) int {
	for i, t := range tools {
		if t.name == s.Tool {
			m := 0
			if s.Mode == modeTuned || s.Mode == modeWarm {
				m = 1
			}
			return 2*i + m
		}
	}
	return 2 * len(tools)
}

// best is the rival in mode with the least median wall time and no failed
// run.
func best(g []summary, mode string) *summary {
	var b *summary
	for i := range g {
		s := &g[i]
		if s.Tool == "dt" || s.Mode != mode || s.FailedRuns > 0 {
			continue
		}
		if b == nil || s.Wall.Med < b.Wall.Med {
			b = s
		}
	}
	return b
}

func find(g []summary, tool, mode string) *summary {
	for i := range g {
		if g[i].Tool == tool && g[i].Mode == mode {
			return &g[i]
		}
	}
	return nil
}

func name(s *summary) string {
	if s == nil {
		return "–"
	}
	return s.Tool + " " + s.Mode
}

func wallOf(s *summary) float64 { return s.Wall.Med }
func cpuOf(s *summary) float64  { return s.ClientCPU.Med }
func msPerLogin(s *summary) float64 {
	if s.Handshakes.Med == 0 {
		return 0
	}
	return 1000 * s.ServerCPU.Med / s.Handshakes.Med
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func ratioS(dt, s *summary, f func(*summary) float64) string {
	if dt == nil || s == nil {
		return "–"
	}
	return ratio(f(dt), f(s))
}

func spread(s stat, prec int) string {
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec+1, s.Med, prec+1, s.Min, prec+1, s.Max)
}

func scale(s stat, k float64) stat { return stat{s.Med * k, s.Min * k, s.Max * k} }

func kib(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// rewriteSummary renders dir's summaries again from its runs.json (after a
// change to the report), with c's reps and fanout.
func rewriteSummary(dir string, c config) error {
	data, err := os.ReadFile(filepath.Join(dir, "runs.json"))
	if err != nil {
		return err
	}
	var results []runResult
	if err := json.Unmarshal(data, &results); err != nil {
		return fmt.Errorf("%s/runs.json: %w", dir, err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		return err
	}
	machine, _, _ := strings.Cut(strings.TrimPrefix(string(md), "Machine: "), ". Reps per cell")
	return writeResults(dir, c, machine, results)
}
