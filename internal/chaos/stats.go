// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// snapshot is the fleet's cost counters at one moment.
type snapshot struct {
	at       time.Time
	weftd    map[string]procSample // by node name
	etcd     map[string]procSample // by member name
	etcdTx   map[string]uint64     // bytes sent by each member's namespace
	logLines map[string]int        // lines in each node's weftd log
	cpuIdle  uint64                // /proc/stat: idle+iowait jiffies
	cpuTotal uint64                // /proc/stat: all jiffies
}

type procSample struct {
	pid int
	cluster.ProcStats
}

func (f *Fleet) snapshot() snapshot {
	s := snapshot{
		at: time.Now(), weftd: map[string]procSample{}, etcd: map[string]procSample{},
		etcdTx: map[string]uint64{}, logLines: map[string]int{},
	}
	for _, n := range f.C.Nodes {
		if pid := n.WeftdPID(); pid != 0 {
			if st, err := cluster.ReadProcStats(pid); err == nil {
				s.weftd[n.Name] = procSample{pid, st}
			}
		}
		s.logLines[n.Name] = countLines(n.LogFile())
	}
	for _, m := range f.C.Etcd {
		if pid := m.PID(); pid != 0 {
			if st, err := cluster.ReadProcStats(pid); err == nil {
				s.etcd[m.Name] = procSample{pid, st}
			}
		}
		if tx, err := m.TxBytes(); err == nil {
			s.etcdTx[m.Name] = tx
		}
	}
	s.cpuIdle, s.cpuTotal = readCPU()
	return s
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// readCPU sums the machine's CPU time from /proc/stat's first line.
func readCPU() (idle, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total
}

// Cost is what a scenario cost the machine, weftd and etcd.
type Cost struct {
	// WeftdCPUSeconds is the CPU time of every weftd together; a weftd
	// restarted in the scenario counts from its restart.
	WeftdCPUSeconds    float64 `json:"weftdCpuSeconds"`
	WeftdCPUMaxNode    float64 `json:"weftdCpuSecondsMaxNode"`
	WeftdRSSMedianMiB  float64 `json:"weftdRssMedianMiB"`
	WeftdRSSMaxMiB     float64 `json:"weftdRssMaxMiB"`
	WeftdPeakRSSMaxMiB float64 `json:"weftdPeakRssMaxMiB"` // VmHWM
	EtcdCPUSeconds     float64 `json:"etcdCpuSeconds"`     // the three members together
	EtcdTxBytes        uint64  `json:"etcdTxBytes"`        // sent on the members' eth0, to clients and peers
	IdleShare          float64 `json:"idleShare"`          // the machine's idle share of CPU time over the scenario
	LogLines           int     `json:"logLines"`           // weftd log lines added, all nodes
	LogLinesMaxNode    int     `json:"logLinesMaxNode"`
}

// cost compares two snapshots.
func cost(a, b snapshot) Cost {
	var c Cost
	var rss []float64
	for name, s := range b.weftd {
		cpu := s.CPU
		if p, ok := a.weftd[name]; ok && p.pid == s.pid {
			cpu -= p.CPU
		}
		c.WeftdCPUSeconds += cpu.Seconds()
		c.WeftdCPUMaxNode = max(c.WeftdCPUMaxNode, cpu.Seconds())
		rss = append(rss, mib(s.RSS))
		c.WeftdPeakRSSMaxMiB = max(c.WeftdPeakRSSMaxMiB, mib(s.PeakRSS))
	}
	if len(rss) > 0 {
		slices.Sort(rss)
		c.WeftdRSSMedianMiB, c.WeftdRSSMaxMiB = rss[len(rss)/2], rss[len(rss)-1]
	}
	for name, s := range b.etcd {
		cpu := s.CPU
		if p, ok := a.etcd[name]; ok && p.pid == s.pid {
			cpu -= p.CPU
		}
		c.EtcdCPUSeconds += cpu.Seconds()
	}
	for name, tx := range b.etcdTx {
		if tx >= a.etcdTx[name] {
			c.EtcdTxBytes += tx - a.etcdTx[name]
		}
	}
	if d := b.cpuTotal - a.cpuTotal; d > 0 {
		c.IdleShare = float64(b.cpuIdle-a.cpuIdle) / float64(d)
	}
	for name, n := range b.logLines {
		d := n - a.logLines[name]
		c.LogLines += d
		c.LogLinesMaxNode = max(c.LogLinesMaxNode, d)
	}
	return c
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// String is the cost in one line.
func (c Cost) String() string {
	return fmt.Sprintf("weftd CPU %.1fs (max node %.2fs), RSS median %.0f MiB max %.0f MiB (peak %.0f), etcd CPU %.1fs tx %.1f MiB, idle %.0f%%, log lines %d (max node %d)",
		c.WeftdCPUSeconds, c.WeftdCPUMaxNode, c.WeftdRSSMedianMiB, c.WeftdRSSMaxMiB, c.WeftdPeakRSSMaxMiB,
		c.EtcdCPUSeconds, float64(c.EtcdTxBytes)/(1<<20), 100*c.IdleShare, c.LogLines, c.LogLinesMaxNode)
}
