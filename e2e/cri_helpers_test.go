// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/testbin"
)

// Helpers of the CRI tier: one containerd per node namespace, pods made
// with crictl as kubelet makes them.

// criTimeout bounds one CRI step (runp, stopp, a restart); generous.
const criTimeout = 2 * time.Minute

// criBinDir returns the directory `make cri` builds into, failing the test
// when a binary is missing. Every CRI test calls it first: it skips with
// -short (`make unit` builds nothing) and without root.
func criBinDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: needs root and the binaries `make cri` builds (make test runs it)")
	}
	nstest.RequireRoot(t)
	dir := os.Getenv("WEFT_CRI_BIN")
	if dir == "" {
		dir = filepath.Join(testbin.Dir(), "cri")
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "crictl", "pause"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s not built: run `make cri` first (make test does): %v", b, err)
		}
	}
	return dir
}

// startContainerd starts containerd on n and, at cleanup (before the
// cluster's, since cleanups run last-in first-out), removes it and checks
// that nothing of it survives.
func startContainerd(t *testing.T, n *cluster.Node, opts cluster.ContainerdOptions) *cluster.Containerd {
	t.Helper()
	opts.CRIBinDir = criBinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	cd, err := n.StartContainerd(ctx, opts)
	if err != nil {
		dumpContainerdLog(t, filepath.Join(n.Dir, "containerd", "containerd.log"))
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpContainerdLog(t, cd.LogFile())
		}
		if err := cd.Close(); err != nil {
			t.Errorf("containerd %s teardown: %v", n.Name, err)
		}
		if left := cd.Leftovers(); len(left) > 0 {
			t.Errorf("containerd %s left behind: %s", n.Name, strings.Join(left, "; "))
		}
	})
	return cd
}

func dumpContainerdLog(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	s := string(b)
	if len(s) > 8000 {
		s = "...\n" + s[len(s)-8000:]
	}
	t.Logf("==== %s ====\n%s", path, s)
}

func runPod(t *testing.T, cd *cluster.Containerd, name string) *cluster.CRIPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	p, err := cd.RunPod(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod %s on %s: %s in netns %s (sandbox %.12s)", name, cd.Node.Name, p.IP, p.NS, p.ID)
	sn := subnetOf(t, cd.Node)
	if !sn.Contains(p.IP) {
		t.Errorf("pod %s got %s, outside its node's subnet %s", name, p.IP, sn)
	}
	return p
}

// waitNetworkReady waits until containerd's NetworkReady is want, and
// returns the condition.
func waitNetworkReady(t *testing.T, cd *cluster.Containerd, want bool) cluster.RuntimeCondition {
	t.Helper()
	var cond cluster.RuntimeCondition
	waitFor(t, time.Minute, "NetworkReady="+map[bool]string{true: "true", false: "false"}[want], func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := cd.NetworkReady(ctx)
		if err != nil {
			return false, err.Error()
		}
		cond = c
		return c.Status == want, c.Reason + ": " + c.Message
	})
	return cond
}

// addressesHeld returns host-local's allocated addresses on n.
func addressesHeld(t *testing.T, n *cluster.Node) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(n.Dir, "ipam", "weft"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, e := range entries {
		if name := e.Name(); name != "lock" && !strings.HasPrefix(name, "last_reserved_ip") {
			held = append(held, name)
		}
	}
	return held
}

// podsReach checks ICMP between every pair and one TCP transfer per
// ordered pair of nodes.
func podsReach(t *testing.T, pods []*cluster.CRIPod) {
	t.Helper()
	var plain []*cluster.Pod
	for _, p := range pods {
		plain = append(plain, p.Pod)
	}
	mustReach(t, plain)
	for _, a := range pods {
		for _, b := range pods {
			if a.Node == b.Node || a.Name != "a" || b.Name != "a" {
				continue
			}
			if _, err := cluster.TCPTransfer(context.Background(), a.NS, b.NS, b.IP, 5001, 1<<20, 30*time.Second); err != nil {
				t.Errorf("%s -> %s: %v", a, b, err)
			}
		}
	}
}
