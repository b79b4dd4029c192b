// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/weft-net/weft/internal/testbin"
	"github.com/weft-net/weft/subnet/subnetenv"
)

const benchPods = 100

// BenchmarkCNI measures ADD and DEL latency through libcni over 100 pods,
// for the dist conflist (weft + portmap) and, in the same run and pod
// namespaces, for bridge + portmap called directly with the config weft
// delegates. The difference is weft's own overhead. Operations alternate
// pod by pod so both sides see the same machine state.
//
//	go test -run '^$' -bench BenchmarkCNI -benchtime 1x ./cmd/weft
func BenchmarkCNI(b *testing.B) {
	n := newNode(b, testEnv)
	direct := n.directList(b)
	pods := make([]*pod, benchPods)
	for i := range pods {
		pods[i] = n.newPod(b)
	}
	// Warm up: the first ADD creates cni0 and fills the page cache.
	n.timedCycle(b, n.list, pods[0])
	n.timedCycle(b, direct, pods[0])

	var weftAdd, weftDel, bridgeAdd, bridgeDel []time.Duration
	b.ResetTimer()
	for range b.N {
		for _, p := range pods {
			add, del := n.timedCycle(b, n.list, p)
			weftAdd, weftDel = append(weftAdd, add), append(weftDel, del)
			add, del = n.timedCycle(b, direct, p)
			bridgeAdd, bridgeDel = append(bridgeAdd, add), append(bridgeDel, del)
		}
	}
	b.StopTimer()
	weftExec := execLatency(b, testbin.Path(b, "weft"))
	bridgeExec := execLatency(b, testbin.CNIPlugin(b, "bridge"))

	b.Logf("%d pods: p50 / p99 in ms", len(weftAdd))
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{
		{"weft-add", weftAdd}, {"bridge-add", bridgeAdd},
		{"weft-del", weftDel}, {"bridge-del", bridgeDel},
		{"weft-version", weftExec}, {"bridge-version", bridgeExec},
	} {
		p50, p99 := percentile(r.d, 50), percentile(r.d, 99)
		b.ReportMetric(ms(p50), r.name+"-p50-ms")
		b.ReportMetric(ms(p99), r.name+"-p99-ms")
		b.Logf("  %-15s %7.2f %7.2f", r.name, ms(p50), ms(p99))
	}
	b.ReportMetric(ms(percentile(weftAdd, 50)-percentile(bridgeAdd, 50)), "overhead-add-p50-ms")
	b.ReportMetric(ms(percentile(weftDel, 50)-percentile(bridgeDel, 50)), "overhead-del-p50-ms")
}

// timedCycle runs ADD then DEL of p with list and times each.
func (n *node) timedCycle(b *testing.B, list *libcni.NetworkConfigList, p *pod) (add, del time.Duration) {
	b.Helper()
	err := n.inNode(b, func(ctx context.Context) error {
		start := time.Now()
		if _, err := n.cni.AddNetworkList(ctx, list, p.rt); err != nil {
			return fmt.Errorf("ADD %s: %w", list.Plugins[0].Network.Type, err)
		}
		add = time.Since(start)
		start = time.Now()
		if err := n.cni.DelNetworkList(ctx, list, p.rt); err != nil {
			return fmt.Errorf("DEL %s: %w", list.Plugins[0].Network.Type, err)
		}
		del = time.Since(start)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return add, del
}

// directList is the dist conflist with weft replaced by the very config
// weft hands its delegate.
func (n *node) directList(b *testing.B) *libcni.NetworkConfigList {
	b.Helper()
	weftConf, err := setKeys(n.list.Plugins[0].Bytes, []keyValue{
		{"name", jsonString(n.list.Name)}, {"cniVersion", jsonString(n.list.CNIVersion)},
	})
	if err != nil {
		b.Fatal(err)
	}
	c, err := parseNetConf(weftConf)
	if err != nil {
		b.Fatal(err)
	}
	env, err := subnetenv.Read(n.subnetFile)
	if err != nil {
		b.Fatal(err)
	}
	bridge, err := buildDelegate(c, &env, false)
	if err != nil {
		b.Fatal(err)
	}
	plugins := []json.RawMessage{bridge}
	for _, p := range n.list.Plugins[1:] {
		plugins = append(plugins, p.Bytes)
	}
	list, err := json.Marshal(map[string]any{"cniVersion": n.list.CNIVersion, "name": n.list.Name, "plugins": plugins})
	if err != nil {
		b.Fatal(err)
	}
	l, err := libcni.ConfListFromBytes(list)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// execLatency times a plugin's VERSION command: process start-up alone.
func execLatency(b *testing.B, path string) []time.Duration {
	b.Helper()
	var ds []time.Duration
	for range benchPods {
		cmd := exec.Command(path)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s VERSION: %v: %s", path, err, out)
		}
		ds = append(ds, time.Since(start))
	}
	return ds
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
