// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

func nodes(n int) []*cluster.Node {
	out := make([]*cluster.Node, n)
	for i := range out {
		out[i] = &cluster.Node{Index: i + 1, Name: fmt.Sprintf("node%d", i+1)}
	}
	return out
}

func TestPickPairs(t *testing.T) {
	ms := nodes(6)
	a, b := PickPairs(ms, 20, 16), PickPairs(ms, 20, 16)
	if len(a) != 20 {
		t.Fatalf("got %d pairs, want 20", len(a))
	}
	seen := map[[2]string]bool{}
	for i, p := range a {
		if p.Src == p.Dst {
			t.Errorf("pair %d stays on %s", i, p.Src.Name)
		}
		k := [2]string{p.Src.Name, p.Dst.Name}
		if seen[k] {
			t.Errorf("pair %s twice", k)
		}
		seen[k] = true
		if b[i] != p {
			t.Errorf("pair %d differs between two picks with one seed", i)
		}
	}
	// Two nodes have only two directions.
	if got := PickPairs(nodes(2), 20, 1); len(got) != 2 {
		t.Errorf("2 nodes: %d pairs, want 2", len(got))
	}
}

func TestProbeResult(t *testing.T) {
	ms := nodes(2)
	t0 := time.Unix(1000, 0)
	p := &probe{pair: Pair{Src: ms[0], Dst: ms[1]}}
	got := []bool{true, false, false, true, true, false}
	for i, g := range got {
		p.sentAt = append(p.sentAt, t0.Add(time.Duration(i)*10*time.Millisecond))
		p.got = append(p.got, g)
		if g {
			p.n++
		}
	}
	p.maxGap = 30 * time.Millisecond
	r := p.result(map[string]bool{"node2": true})
	if r.Established {
		t.Error("a pair with a down node counts as established")
	}
	if r.Sent != 6 || r.Received != 3 || r.Lost != 3 || r.MaxGapMS != 30 {
		t.Errorf("sent %d received %d lost %d gap %v, want 6 3 3 30", r.Sent, r.Received, r.Lost, r.MaxGapMS)
	}
	want := []Interval{{t0.Add(10 * time.Millisecond), t0.Add(20 * time.Millisecond), 2}, {t0.Add(50 * time.Millisecond), t0.Add(50 * time.Millisecond), 1}}
	if len(r.Losses) != len(want) {
		t.Fatalf("losses %+v, want %+v", r.Losses, want)
	}
	for i := range want {
		if !r.Losses[i].From.Equal(want[i].From) || !r.Losses[i].To.Equal(want[i].To) || r.Losses[i].Packets != want[i].Packets {
			t.Errorf("loss %d: %+v, want %+v", i, r.Losses[i], want[i])
		}
	}
	s := summarize([]PairResult{r, {Src: "node1", Dst: "node3", Established: true, Sent: 10, Lost: 1, MaxGapMS: 20}})
	if s.Established != 1 || s.Lost != 1 || s.LostAll != 4 || s.MaxGapMS != 20 {
		t.Errorf("summary %+v: want 1 established, 1 lost, 4 lost on all pairs, gap 20", s)
	}
}

func TestCost(t *testing.T) {
	a := snapshot{
		weftd:    map[string]procSample{"node1": {pid: 10, ProcStats: cluster.ProcStats{CPU: time.Second}}, "node2": {pid: 20, ProcStats: cluster.ProcStats{CPU: 5 * time.Second}}},
		etcd:     map[string]procSample{"etcd0": {pid: 30, ProcStats: cluster.ProcStats{CPU: time.Second}}},
		etcdTx:   map[string]uint64{"etcd0": 100},
		logLines: map[string]int{"node1": 10, "node2": 0},
		cpuIdle:  100, cpuTotal: 200,
	}
	b := snapshot{
		// node2's weftd restarted: its CPU counts from the restart.
		weftd:    map[string]procSample{"node1": {pid: 10, ProcStats: cluster.ProcStats{CPU: 3 * time.Second, RSS: 20 << 20, PeakRSS: 30 << 20}}, "node2": {pid: 21, ProcStats: cluster.ProcStats{CPU: time.Second, RSS: 10 << 20, PeakRSS: 10 << 20}}},
		etcd:     map[string]procSample{"etcd0": {pid: 30, ProcStats: cluster.ProcStats{CPU: 4 * time.Second}}},
		etcdTx:   map[string]uint64{"etcd0": 1100},
		logLines: map[string]int{"node1": 15, "node2": 7},
		cpuIdle:  150, cpuTotal: 400,
	}
	c := cost(a, b)
	if c.WeftdCPUSeconds != 3 || c.WeftdCPUMaxNode != 2 || c.EtcdCPUSeconds != 3 || c.EtcdTxBytes != 1000 {
		t.Errorf("cpu %v (max %v), etcd %v tx %d: want 3 (2), 3, 1000", c.WeftdCPUSeconds, c.WeftdCPUMaxNode, c.EtcdCPUSeconds, c.EtcdTxBytes)
	}
	if c.IdleShare != 0.25 || c.LogLines != 12 || c.LogLinesMaxNode != 7 || c.WeftdRSSMaxMiB != 20 || c.WeftdPeakRSSMaxMiB != 30 {
		t.Errorf("idle %v lines %d/%d rss %v peak %v: want 0.25 12/7 20 30", c.IdleShare, c.LogLines, c.LogLinesMaxNode, c.WeftdRSSMaxMiB, c.WeftdPeakRSSMaxMiB)
	}
}
