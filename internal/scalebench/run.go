// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package scalebench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/subnet"
)

// Topology is every run against one etcd cluster.
type Topology struct {
	Members int         `json:"members"`
	Runs    []TargetRun `json:"runs"`
}

// TargetRun is the phases against one endpoint set.
type TargetRun struct {
	Target    string   `json:"target"` // all, leader, followers
	Endpoints int      `json:"endpoints"`
	Watchers  int      `json:"watchers"`
	Procs     int      `json:"procs"`
	SetupS    float64  `json:"setup_s"` // opening every client and watch
	Idle      Usage    `json:"idle"`    // per second, W watches open, nothing written
	Fanout    Fanout   `json:"fanout"`
	Lists     []List   `json:"lists"`
	KeepAlive *KeepAli `json:"keepalive,omitempty"`
}

// Usage is what the etcd members spent over a window, summed over members.
type Usage struct {
	Seconds float64 `json:"seconds"`
	CPUms   float64 `json:"cpu_ms"`
	TxBytes uint64  `json:"tx_bytes"` // sent by the members' eth0
	RxBytes uint64  `json:"rx_bytes"`
	// PerMember: CPU ms and tx bytes of each member, in member order.
	PerMemberCPUms []float64 `json:"per_member_cpu_ms"`
	PerMemberTx    []uint64  `json:"per_member_tx_bytes"`
	// ClientCPUms is what the load processes spent: they share the
	// machine's cores with etcd, so a busy client side slows delivery.
	ClientCPUms float64 `json:"client_cpu_ms"`
}

// Pctl is a distribution in milliseconds.
type Pctl struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Fanout is the lease-put phase.
type Fanout struct {
	Puts       int   `json:"puts"`
	ValueBytes int   `json:"value_bytes"` // the lease value put
	KeyBytes   int   `json:"key_bytes"`
	Usage      Usage `json:"usage"`
	// Delivery: put start to each watcher's receipt, over every
	// (put, watcher); Last: put start to the last watcher's receipt, over
	// the puts; Put: the put's own round trip.
	Delivery Pctl `json:"delivery"`
	Last     Pctl `json:"last"`
	Put      Pctl `json:"put"`
	// Per put: etcd CPU and bytes sent; per event (put × watcher): bytes.
	CPUmsPerPut      float64 `json:"cpu_ms_per_put"`
	TxBytesPerPut    float64 `json:"tx_bytes_per_put"`
	TxBytesPerEvent  float64 `json:"tx_bytes_per_event"`
	CPUusPerEvent    float64 `json:"cpu_us_per_event"`
	MissingEvents    int     `json:"missing_events"`
	UnexpectedEvents int     `json:"unexpected_events"`
}

// List is one list storm: every client ranges over L leases at once.
type List struct {
	Leases  int      `json:"leases"`
	Mode    ListMode `json:"mode"`
	Clients int      `json:"clients"`
	AllDone float64  `json:"all_done_ms"` // start to the last answer
	Took    Pctl     `json:"took"`
	Usage   Usage    `json:"usage"`
	// Per client: etcd CPU and bytes sent.
	CPUmsPerList   float64 `json:"cpu_ms_per_list"`
	TxBytesPerList float64 `json:"tx_bytes_per_list"`
	WrongCounts    int     `json:"wrong_counts"`
	Errors         int     `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
}

// KeepAli is the keep-alive phase.
type KeepAli struct {
	TTLs        float64 `json:"ttl_s"`
	IntervalS   float64 `json:"interval_s"`
	Renewals    int     `json:"renewals"`
	PerSecond   float64 `json:"per_second"`
	Usage       Usage   `json:"usage"`
	CPUusPerRen float64 `json:"cpu_us_per_renewal"`
	TxPerRen    float64 `json:"tx_bytes_per_renewal"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

// runTarget starts the load processes against eps and runs every phase.
func runTarget(ctx context.Context, c *cluster.Cluster, o Options, target string, eps []string) (TargetRun, error) {
	r := TargetRun{Target: target, Endpoints: len(eps), Watchers: o.Watchers, Procs: o.Procs}
	o.Logf("%d member(s), %s: opening %d watches from %d processes", o.Members, target, o.Watchers, o.Procs)
	start := time.Now()
	ls, err := startLoaders(ctx, c, o, eps)
	if err != nil {
		return r, err
	}
	defer stopLoaders(ls)
	r.SetupS = time.Since(start).Seconds()
	m := meter{c: c, ls: ls}
	if r.Idle, err = m.over(func() error { time.Sleep(o.IdleFor); return nil }); err != nil {
		return r, err
	}
	if r.Fanout, err = fanout(ctx, c, o, ls, &m); err != nil {
		return r, err
	}
	for _, l := range o.ListSizes {
		for _, mode := range o.ListModes {
			lr, err := listStorm(ls, &m, l, mode, listClients(o))
			if err != nil {
				return r, err
			}
			o.Logf("list %d leases %s by %d clients: all done in %.0f ms", l, mode, lr.Clients, lr.AllDone)
			r.Lists = append(r.Lists, lr)
		}
	}
	if o.KeepAliveFor > 0 {
		ka, err := keepAlive(ls, &m, o)
		if err != nil {
			return r, err
		}
		r.KeepAlive = &ka
	}
	return r, nil
}

// fanout puts o.Puts leases, o.PutGap apart, on the watched prefix and
// collects when each watcher received each.
func fanout(ctx context.Context, c *cluster.Cluster, o Options, ls []*loader, m *meter) (Fanout, error) {
	f := Fanout{Puts: o.Puts}
	w, err := c.NewLeaseWriter(ctx, time.Hour)
	if err != nil {
		return f, err
	}
	defer w.Close()
	putAt := map[int64]time.Time{}
	var putTook []time.Duration
	f.Usage, err = m.over(func() error {
		for i := range o.Puts {
			l := cluster.PeerLease(firstSubnet, 100000+i, 1)
			v, _ := l.Attrs.MarshalJSON()
			f.ValueBytes, f.KeyBytes = len(v), len(w.Key(l))
			t := time.Now()
			rev, err := w.PutRev(ctx, l)
			if err != nil {
				return err
			}
			putAt[rev] = t
			putTook = append(putTook, time.Since(t))
			time.Sleep(o.PutGap)
		}
		time.Sleep(2 * time.Second) // let the last deliveries land inside the window
		return nil
	})
	if err != nil {
		return f, err
	}
	ans, err := ask(ls, command{Cmd: "events"})
	if err != nil {
		return f, err
	}
	f.score(ans, putAt, o.Watchers)
	f.Put = pctl(putTook)
	f.CPUmsPerPut = f.Usage.CPUms / float64(o.Puts)
	f.TxBytesPerPut = float64(f.Usage.TxBytes) / float64(o.Puts)
	f.TxBytesPerEvent = f.TxBytesPerPut / float64(o.Watchers)
	f.CPUusPerEvent = f.CPUmsPerPut * 1000 / float64(o.Watchers)
	o.Logf("fan-out to %d watchers: last delivery p50 %.1f ms, p99 %.1f ms; %.0f B and %.1f µs CPU per event",
		o.Watchers, f.Last.P50, f.Last.P99, f.TxBytesPerEvent, f.CPUusPerEvent)
	return f, nil
}

// score turns the watchers' receive times into latencies and counts what
// was missing or unexpected.
func (f *Fanout) score(ans []answer, putAt map[int64]time.Time, watchers int) {
	var all []time.Duration
	last := map[int64]time.Duration{}
	got := map[int64]int{}
	total := 0
	for _, a := range ans {
		for _, n := range a.PerWatch {
			total += n
		}
		for rev, ts := range a.Recv {
			at, ok := putAt[rev]
			if !ok {
				continue
			}
			got[rev] += len(ts)
			for _, t := range ts {
				d := time.Unix(0, t).Sub(at)
				all = append(all, d)
				last[rev] = max(last[rev], d)
			}
		}
	}
	for rev := range putAt {
		f.MissingEvents += max(watchers-got[rev], 0)
	}
	f.UnexpectedEvents = total - (len(putAt)*watchers - f.MissingEvents)
	f.Delivery = pctl(all)
	lasts := make([]time.Duration, 0, len(last))
	for _, d := range last {
		lasts = append(lasts, d)
	}
	f.Last = pctl(lasts)
}

// listClients is how many clients list in a storm, rounded down to a
// multiple of the load processes, which share them evenly.
func listClients(o Options) int {
	if o.ListClients <= 0 || o.ListClients >= o.Watchers {
		return o.Watchers
	}
	return max(o.ListClients/o.Procs, 1) * o.Procs
}

// listStorm has every client list the L leases under listPrefix(l) at once.
func listStorm(ls []*loader, m *meter, l int, mode ListMode, clients int) (List, error) {
	perProc := 0 // all
	if clients%len(ls) == 0 {
		perProc = clients / len(ls)
	}
	r := List{Leases: l, Mode: mode, Clients: clients}
	var ans []answer
	var err error
	r.Usage, err = m.over(func() error {
		ans, err = ask(ls, command{
			Cmd: "list", Prefix: listPrefix(l) + "/subnets/", Serializable: mode == Serializable,
			At: time.Now().Add(500 * time.Millisecond).UnixNano(), Clients: perProc,
		})
		return err
	})
	if err != nil {
		return r, err
	}
	var took []time.Duration
	for _, a := range ans {
		r.Errors += a.Errors
		if r.FirstError == "" {
			r.FirstError = a.FirstEr
		}
		for i, k := range a.Keys {
			if k != l {
				r.WrongCounts++
			}
			took = append(took, time.Duration(a.TookNS[i]))
		}
	}
	r.Took = pctl(took)
	r.AllDone = r.Took.Max
	r.CPUmsPerList = r.Usage.CPUms / float64(clients)
	r.TxBytesPerList = float64(r.Usage.TxBytes) / float64(clients)
	return r, nil
}

// keepAlive has every client keep one etcd lease alive as weftd does.
func keepAlive(ls []*loader, m *meter, o Options) (KeepAli, error) {
	k := KeepAli{TTLs: o.KeepAliveTTL.Seconds(), IntervalS: o.KeepAliveInterval.Seconds()}
	// The grants happen before the window opens: they are a start cost.
	at := time.Now().Add(time.Second + time.Duration(o.Watchers)*time.Millisecond)
	cmd := command{Cmd: "keepalive", TTL: int64(k.TTLs), Interval: o.KeepAliveInterval, Duration: o.KeepAliveFor, At: at.UnixNano()}
	line := make(chan struct {
		a   []answer
		err error
	}, 1)
	go func() {
		a, err := ask(ls, cmd)
		line <- struct {
			a   []answer
			err error
		}{a, err}
	}()
	time.Sleep(time.Until(at))
	var err error
	k.Usage, err = m.over(func() error { time.Sleep(o.KeepAliveFor); return nil })
	res := <-line
	if err == nil {
		err = res.err
	}
	if err != nil {
		return k, err
	}
	for _, a := range res.a {
		k.Renewals += a.Renewals
		k.Errors += a.Errors
		if k.FirstError == "" {
			k.FirstError = a.FirstEr
		}
	}
	k.PerSecond = float64(k.Renewals) / o.KeepAliveFor.Seconds()
	if k.Renewals > 0 {
		k.CPUusPerRen = k.Usage.CPUms * 1000 / float64(k.Renewals)
		k.TxPerRen = float64(k.Usage.TxBytes) / float64(k.Renewals)
	}
	return k, nil
}

// meter reads what the etcd members spend.
type meter struct {
	c  *cluster.Cluster
	ls []*loader
}

type sample struct {
	at        time.Time
	cpu       []time.Duration
	tx, rx    []uint64
	clientCPU time.Duration
}

func (m *meter) read() (sample, error) {
	s := sample{at: time.Now()}
	for _, mem := range m.c.Etcd {
		st, err := cluster.ReadProcStats(mem.PID())
		if err != nil {
			return s, fmt.Errorf("etcd %s: %w", mem.Name, err)
		}
		out, err := netns.Exec(mem.NS, "cat", "/sys/class/net/eth0/statistics/tx_bytes", "/sys/class/net/eth0/statistics/rx_bytes")
		if err != nil {
			return s, err
		}
		var tx, rx uint64
		if _, err := fmt.Sscan(strings.TrimSpace(out), &tx, &rx); err != nil {
			return s, fmt.Errorf("etcd %s: eth0 counters %q: %w", mem.Name, out, err)
		}
		s.cpu, s.tx, s.rx = append(s.cpu, st.CPU), append(s.tx, tx), append(s.rx, rx)
	}
	for _, l := range m.ls {
		st, err := cluster.ReadProcStats(l.cmd.Process.Pid)
		if err != nil {
			return s, fmt.Errorf("load process on %s: %w", l.name, err)
		}
		s.clientCPU += st.CPU
	}
	return s, nil
}

// over runs f and returns what the members spent meanwhile.
func (m *meter) over(f func() error) (Usage, error) {
	a, err := m.read()
	if err != nil {
		return Usage{}, err
	}
	if err := f(); err != nil {
		return Usage{}, err
	}
	b, err := m.read()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Seconds: b.at.Sub(a.at).Seconds(), ClientCPUms: float64(b.clientCPU-a.clientCPU) / float64(time.Millisecond)}
	for i := range a.cpu {
		cpu := float64(b.cpu[i]-a.cpu[i]) / float64(time.Millisecond)
		u.CPUms += cpu
		u.TxBytes += b.tx[i] - a.tx[i]
		u.RxBytes += b.rx[i] - a.rx[i]
		u.PerMemberCPUms = append(u.PerMemberCPUms, cpu)
		u.PerMemberTx = append(u.PerMemberTx, b.tx[i]-a.tx[i])
	}
	return u, nil
}

// pctl is the nearest-rank p50, p99 and max of ds, in milliseconds.
func pctl(ds []time.Duration) Pctl {
	if len(ds) == 0 {
		return Pctl{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(s))))-1, 0)
		return float64(s[i]) / float64(time.Millisecond)
	}
	return Pctl{P50: at(0.5), P99: at(0.99), Max: at(1)}
}

// LeaseValue is a simulated node's lease value, for the docs' sizes.
func LeaseValue() (key string, value []byte) {
	l := cluster.PeerLease(firstSubnet, 1, 0)
	v, _ := l.Attrs.MarshalJSON()
	return subnet.SubnetKey(l.Subnet, l.IPv6Subnet), v
}
