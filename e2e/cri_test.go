// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/testbin"
)

// The CRI tier: weft driven by containerd's CRI plugin, as kubelet drives
// it, with pods made by crictl. Each test's steps share one cluster (a
// cluster and its containerds take seconds to build), so they run in
// order as subtests and a failed step stops the rest.

// TestCRINetworkReadyAndReleaseWithoutWeftd: containerd's NetworkReady
// follows weft's CNI STATUS (false before weftd has written subnet.env,
// true after, false again once weftd is stopped and the file removed),
// and a pod removed while weftd is down still frees its address.
func TestCRINetworkReadyAndReleaseWithoutWeftd(t *testing.T) {
	criBinDir(t)
	c := newCluster(t, cluster.Options{Nodes: 1, NoWeftd: true})
	n := c.Nodes[0]
	cd := startContainerd(t, n, cluster.ContainerdOptions{})
	ctx := context.Background()
	var pod *cluster.CRIPod
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"not ready before weftd", func(t *testing.T) {
			cond := waitNetworkReady(t, cd, false)
			t.Logf("NetworkReady before weftd: %+v", cond)
			if !strings.Contains(cond.Message, "is weftd running on this node?") {
				t.Errorf("NetworkReady message %q does not point at weftd", cond.Message)
			}
		}},
		{"ready once weftd runs", func(t *testing.T) {
			if err := n.StartWeftd(); err != nil {
				t.Fatal(err)
			}
			if err := n.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			waitNetworkReady(t, cd, true)
			pod = runPod(t, cd, "a")
			if held := addressesHeld(t, n); len(held) != 1 || held[0] != pod.IP.String() {
				t.Errorf("host-local holds %v, want only %s", held, pod.IP)
			}
		}},
		{"not ready after weftd stopped and subnet.env removed", func(t *testing.T) {
			// weftd first: it would write the file again.
			if _, err := n.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(n.SubnetFile()); err != nil {
				t.Fatal(err)
			}
			waitNetworkReady(t, cd, false)
		}},
		{"pod removed without weftd frees its address", func(t *testing.T) {
			if err := pod.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := pod.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			if held := addressesHeld(t, n); len(held) != 0 {
				t.Errorf("host-local still holds %v after stopp/rmp with weftd down", held)
			}
			if _, err := os.Stat("/var/run/netns/" + pod.NS); err == nil {
				t.Errorf("pod network namespace %s survives rmp", pod.NS)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// TestCRIPodsAcrossNodes: pods made by containerd on two nodes reach each
// other (ICMP, TCP), stay reachable across a containerd restart and a
// weftd restart, and stopp/rmp frees every address and namespace.
func TestCRIPodsAcrossNodes(t *testing.T) {
	criBinDir(t)
	c := newCluster(t, cluster.Options{Nodes: 2})
	var cds []*cluster.Containerd
	var pods []*cluster.CRIPod
	for _, n := range c.Nodes {
		cd := startContainerd(t, n, cluster.ContainerdOptions{})
		waitNetworkReady(t, cd, true)
		cds = append(cds, cd)
		pods = append(pods, runPod(t, cd, "a"), runPod(t, cd, "b"))
	}
	ctx := context.Background()
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"reach", func(t *testing.T) {
			for _, cd := range cds {
				// The pods run under the containerd's own cgroup parent,
				// which Close removes.
				if dirs := cd.CgroupDirs(); len(dirs) == 0 {
					t.Errorf("node %s: no pod cgroups under the containerd's parent", cd.Node.Name)
				}
			}
			podsReach(t, pods)
		}},
		{"containerd restarted", func(t *testing.T) {
			if err := cds[0].Stop(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := cds[0].Start(ctx); err != nil {
				t.Fatal(err)
			}
			ids, err := cds[0].PodIDs(ctx)
			if err != nil || len(ids) != 2 {
				t.Errorf("after restart containerd lists pods %v (%v), want 2", ids, err)
			}
			podsReach(t, pods)
		}},
		{"weftd restarted", func(t *testing.T) {
			n := c.Nodes[0]
			if _, err := n.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := n.StartWeftd(); err != nil {
				t.Fatal(err)
			}
			if err := n.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			podsReach(t, pods)
		}},
		{"stopp and rmp free every address", func(t *testing.T) {
			for _, p := range pods {
				if err := p.Stop(ctx); err != nil {
					t.Error(err)
				}
				if err := p.Remove(ctx); err != nil {
					t.Error(err)
				}
			}
			for _, n := range c.Nodes {
				if held := addressesHeld(t, n); len(held) != 0 {
					t.Errorf("node %s: host-local still holds %v", n.Name, held)
				}
			}
			for _, p := range pods {
				if _, err := os.Stat("/var/run/netns/" + p.NS); err == nil {
					t.Errorf("pod %s: network namespace %s survives rmp", p.Name, p.NS)
				}
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// TestCRIPluginMatrix: one node per reference plugin set a node may carry,
// all in one cluster. With bridge v1.1.1 (Debian 12), a weft-only 1.1.0
// conflist still gates NetworkReady (weft skips the delegate's STATUS it
// does not have) and a weft+portmap conflist works at 1.0.0; the pinned
// plugins run the dist conflist as is. Pods across the three reach each
// other.
func TestCRIPluginMatrix(t *testing.T) {
	criBinDir(t)
	old := testbin.Dir() + "/cni-v1.1.1"
	if _, err := os.Stat(old + "/bridge"); err != nil {
		t.Fatalf("reference plugins v1.1.1 not built: run `make cni-matrix` first (make test does): %v", err)
	}
	c := newCluster(t, cluster.Options{Nodes: 3})
	setups := []cluster.ContainerdOptions{
		{CNIPath: old, WeftOnly: true},
		{CNIPath: old, CNIVersion: "1.0.0"},
		{},
	}
	var pods []*cluster.CRIPod
	for i, opts := range setups {
		cd := startContainerd(t, c.Nodes[i], opts)
		waitNetworkReady(t, cd, true)
		pods = append(pods, runPod(t, cd, "a"))
	}
	podsReach(t, pods)
	ctx := context.Background()
	for _, p := range pods {
		if err := p.Remove(ctx); err != nil {
			t.Error(err)
		}
	}
	for _, n := range c.Nodes {
		if held := addressesHeld(t, n); len(held) != 0 {
			t.Errorf("node %s: host-local still holds %v after rmp", n.Name, held)
		}
	}
}

// TestCRICleanupAfterContainerdStopped: with containerd gone and its pods
// still running (their shims outlive it), Close still finds and removes
// the shims, pause processes, cgroups, mounts and pod namespaces.
func TestCRICleanupAfterContainerdStopped(t *testing.T) {
	criBinDir(t)
	c := newCluster(t, cluster.Options{Nodes: 1})
	cd := startContainerd(t, c.Nodes[0], cluster.ContainerdOptions{})
	waitNetworkReady(t, cd, true)
	runPod(t, cd, "a")
	if err := cd.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := cd.Leftovers()
	t.Logf("before Close: %s", strings.Join(before, "; "))
	if len(before) < 3 { // shim processes, mounts, cgroups, netns
		t.Errorf("with containerd stopped and a pod running, Leftovers finds only %v", before)
	}
	if err := cd.Close(); err != nil {
		t.Fatal(err)
	}
	if left := cd.Leftovers(); len(left) > 0 {
		t.Errorf("after Close: %s", strings.Join(left, "; "))
	}
}
