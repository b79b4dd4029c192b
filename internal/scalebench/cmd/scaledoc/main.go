// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command scaledoc regenerates the measured tables of
// Documentation/scale.md (`make scale-doc`) from the newest
// bench/results/scale-*.json that `make scale-bench` wrote: the inputs as
// measured, and the model's extrapolation from them to 1,000, 5,000 and
// 10,000 nodes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/results"
	"github.com/weft-net/weft/internal/scalebench"
)

func main() {
	doc := flag.String("doc", "Documentation/scale.md", "markdown file whose generated section to refresh")
	in := flag.String("in", "bench/results", "directory of result files")
	flag.Parse()
	if err := refresh(*doc, *in); err != nil {
		fmt.Fprintln(os.Stderr, "scaledoc:", err)
		os.Exit(1)
	}
}

func refresh(docPath, inDir string) error {
	newest, err := results.Newest(inDir, scalebench.ResultPattern)
	if err != nil {
		return fmt.Errorf("%w: run make scale-bench first", err)
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		return err
	}
	var rep scalebench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "Measured by `make scale-bench` at commit %s, %s, on %s; the run took %s.\n\n",
		rep.Commit, rep.Date, rep.Machine, time.Duration(rep.Seconds)*time.Second)
	writeInputs(&t, rep)
	if err := writeModel(&t, rep); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	return results.ReplaceSection(docPath, "make scale-doc", "## Measured", t.String())
}

// runName names a topology and target for the tables.
func runName(members int, target string) string {
	if members == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members, clients on the %s", members, target)
}

func writeInputs(w io.Writer, rep scalebench.Report) {
	fmt.Fprintf(w, "The lease written is a vxlan node's, as flanneld and weftd write it: key `%s` (under the prefix), value `%s` (%d bytes).\n\n",
		rep.LeaseKey, rep.LeaseValue, len(rep.LeaseValue))
	fmt.Fprintln(w, "**Fan-out of one lease put to W watchers.** Latency from the put's start to a watcher's receipt; *last* is the time until the last of the W watchers had it. CPU and bytes are etcd's (all members), per put and per event (one put seen by one watcher).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| etcd | W | puts | delivery p50 / p99 ms | last p50 / p99 / max ms | etcd CPU per put ms | CPU per event µs | bytes per event | idle etcd CPU ms/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, top := range rep.Topologies {
		for _, r := range top.Runs {
			f := r.Fanout
			fmt.Fprintf(w, "| %s | %d | %d | %.1f / %.1f | %.1f / %.1f / %.1f | %.1f | %.1f | %.0f | %.1f |\n",
				runName(top.Members, r.Target), r.Watchers, f.Puts, f.Delivery.P50, f.Delivery.P99,
				f.Last.P50, f.Last.P99, f.Last.Max, f.CPUmsPerPut, f.CPUusPerEvent, f.TxBytesPerEvent,
				r.Idle.CPUms/max(r.Idle.Seconds, 1e-9))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**List storm: C clients list L leases at once.** *All done* is from the common start to the last answer; the clients run on the same two cores as etcd, so it is an upper bound. CPU and bytes are etcd's, per list.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| etcd | L | read | C | all done ms | p50 ms | etcd CPU per list ms | per member CPU ms (all lists) | bytes per list | bytes per lease |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, top := range rep.Topologies {
		for _, r := range top.Runs {
			for _, l := range r.Lists {
				fmt.Fprintf(w, "| %s | %d | %s | %d | %.0f | %.0f | %.2f | %s | %.0f | %.0f |\n",
					runName(top.Members, r.Target), l.Leases, l.Mode, l.Clients, l.AllDone, l.Took.P50,
					l.CPUmsPerList, joinMs(l.Usage.PerMemberCPUms), l.TxBytesPerList, l.TxBytesPerList/float64(l.Leases))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**Keep-alive.** Every client holds one etcd lease and renews it with one `KeepAliveOnce` per interval, as weftd does.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| etcd | leases | interval s | renewals/s | etcd CPU per renewal µs | bytes per renewal | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, top := range rep.Topologies {
		for _, r := range top.Runs {
			if k := r.KeepAlive; k != nil {
				fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %d |\n",
					runName(top.Members, r.Target), r.Watchers, k.IntervalS, k.PerSecond, k.CPUusPerRen, k.TxPerRen, k.Errors)
			}
		}
	}
	fmt.Fprintln(w)
}

func joinMs(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, " / ")
}

// The model's assumptions, stated in the table's caption.
const (
	// etcdCores is the CPU the model gives a production etcd: three members
	// of four cores each.
	etcdCores = 12
	// busyShare is the part of etcdCores a start storm may take.
	busyShare = 0.5
	// renewEvery is weftd's renewal interval at the default TTL (24 h):
	// one minute (a third of the TTL when that is shorter).
	renewEvery = time.Minute
)

// inputs are the measured figures the model multiplies.
type inputs struct {
	src                 string  // which run they come from
	evBytes, evCPUus    float64 // per event (one put, one watcher)
	lastMs              float64 // last delivery p50 at w watchers
	w                   int
	leaseBytes, leaseUs float64 // per lease listed: bytes, etcd CPU µs (serializable)
	linLeaseUs          float64 // per lease listed linearizably
	kaUs                float64 // etcd CPU per renewal
}

// pick takes the inputs from the three-member run with the clients on the
// followers (weftd's default: serializable lists served where the client
// is connected), else from the first run.
func pick(rep scalebench.Report) (inputs, error) {
	var in inputs
	var found *scalebench.TargetRun
	members := 0
	for _, top := range rep.Topologies {
		for i := range top.Runs {
			r := &top.Runs[i]
			if found == nil || (top.Members == 3 && r.Target == "followers") {
				found, members = r, top.Members
			}
		}
	}
	if found == nil {
		return in, fmt.Errorf("no runs")
	}
	r := found
	in.src = runName(members, r.Target)
	in.evBytes, in.evCPUus, in.lastMs, in.w = r.Fanout.TxBytesPerEvent, r.Fanout.CPUusPerEvent, r.Fanout.Last.P50, r.Watchers
	for _, l := range r.Lists {
		perLeaseUs := l.CPUmsPerList * 1000 / float64(l.Leases)
		if l.Mode == scalebench.Serializable {
			in.leaseBytes, in.leaseUs = l.TxBytesPerList/float64(l.Leases), perLeaseUs
		} else {
			in.linLeaseUs = perLeaseUs
		}
	}
	if r.KeepAlive != nil {
		in.kaUs = r.KeepAlive.CPUusPerRen
	}
	return in, nil
}

func writeModel(w io.Writer, rep scalebench.Report) error {
	in, err := pick(rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "**The model at N nodes**, from the measured inputs of the run with %s (W = %d): %.0f bytes and %.1f µs of etcd CPU per event, %.0f bytes and %.2f µs per lease listed (serializable; %.2f µs linearizable), %.0f µs per renewal. ",
		in.src, in.w, in.evBytes, in.evCPUus, in.leaseBytes, in.leaseUs, in.linLeaseUs, in.kaUs)
	fmt.Fprintf(w, "*Last watcher* scales the measured last-delivery p50 (%.0f ms at W = %d, etcd and the clients on this machine's cores) linearly with N. The storm's duration assumes %d etcd cores (three members of four) of which it may take %.0f %%; *jitter* is the `--start-jitter` that keeps it there. Keep-alive: one renewal per node per %s (weftd's default).\n\n",
		in.lastMs, in.w, etcdCores, busyShare*100, renewEvery)
	fmt.Fprintln(w, "| N | events per join (or leave) | bytes per join | etcd CPU per join | last watcher | start storm: bytes | etcd CPU | ≥ time | jitter | renewals/s | renewal CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range []int{1000, 5000, 10000} {
		nf := float64(n)
		ev := nf - 1
		stormCPU := nf * nf * in.leaseUs / 1e6 // seconds
		stormTime := stormCPU / etcdCores
		jitter := stormCPU / (etcdCores * busyShare)
		rate := nf / renewEvery.Seconds()
		fmt.Fprintf(w, "| %d | %d | %s | %.0f ms | %.1f s | %s | %.0f CPU-s | %.0f s | %.0f s | %.0f | %.2f cores |\n",
			n, n-1, bytesStr(ev*in.evBytes), ev*in.evCPUus/1000, in.lastMs*ev/float64(in.w)/1000,
			bytesStr(nf*nf*in.leaseBytes), stormCPU, stormTime, jitter, rate, rate*in.kaUs/1e6)
	}
	fmt.Fprintln(w)
	return nil
}

func bytesStr(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.1f GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.0f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}
