// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/internal/testbin"
)

// newCluster builds a cluster for one test and removes it at cleanup,
// printing the node logs when the test failed.
func newCluster(t testing.TB, opts cluster.Options) *cluster.Cluster {
	t.Helper()
	nstest.RequireRoot(t)
	testbin.Path(t, "weftd")
	testbin.Path(t, "weft")
	testbin.CNIPlugin(t, "bridge")
	opts.BinDir = testbin.Dir()
	opts.CNIPath = testbin.CNIPath()
	opts.ConfList = filepath.Join(testbin.RepoRoot(), "dist", "cni", "10-weft.conflist")
	opts.Dir = t.TempDir()
	opts.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.New(ctx, opts)
	if err != nil {
		dumpLogs(t, opts.Dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, opts.Dir)
		}
		if err := c.Close(); err != nil {
			t.Errorf("cluster teardown: %v", err)
		}
	})
	return c
}

func dumpLogs(t testing.TB, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "weftd.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		s := string(b)
		if len(s) > 6000 {
			s = "...\n" + s[len(s)-6000:]
		}
		t.Logf("==== %s ====\n%s", l, s)
	}
}

func addPods(t *testing.T, c *cluster.Cluster, perNode int) []*cluster.Pod {
	t.Helper()
	var pods []*cluster.Pod
	for _, n := range c.Nodes {
		for i := 1; i <= perNode; i++ {
			pods = append(pods, addPod(t, n, fmt.Sprintf("p%d", i)))
		}
	}
	return pods
}

func addPod(t *testing.T, n *cluster.Node, name string) *cluster.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := n.AddPod(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustReach fails unless every pod answers ICMP from every other pod.
func mustReach(t *testing.T, pods []*cluster.Pod) {
	t.Helper()
	for _, a := range pods {
		for _, b := range pods {
			if a == b {
				continue
			}
			if _, err := cluster.Ping(a.NS, b.IP, 10, time.Second); err != nil {
				t.Errorf("%s -> %s: %v", a, b, err)
			}
		}
	}
}

// waitFor is poll.Until, the one polling helper, under the name the e2e
// tests use.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, timeout, what, cond)
}

// routesTo reports whether node n routes sn over the overlay.
func routesTo(n *cluster.Node, sn netip.Prefix) bool {
	out, err := n.Exec("ip", "-4", "route", "show", sn.String())
	return err == nil && strings.Contains(out, "flannel.1")
}

func subnetOf(t *testing.T, n *cluster.Node) netip.Prefix {
	t.Helper()
	sn, err := n.Subnet()
	if err != nil {
		t.Fatal(err)
	}
	return sn
}
