// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/testbin"
)

// legacyWarning is what weftd logs, once, on a node whose legacy
// iptables filter table exists: the image carries no iptables-legacy.
const legacyWarning = "legacy ip filter table present but iptables-legacy is not installed"

// TestImageWeftdInContainer: the image `make image` builds, imported into
// a node's containerd, runs weftd as the DaemonSet does (a host-network
// container with the manifest's security context): the node joins a
// cluster of two weftd nodes, turns forwarding on and back on after it
// is turned off, and a pod made by that containerd reaches pods on the
// other nodes. On a node with a legacy iptables filter table weftd warns
// that the image has no iptables-legacy.
func TestImageWeftdInContainer(t *testing.T) {
	criBinDir(t)
	image := filepath.Join(testbin.Dir(), "weft-image.tar")
	if _, err := os.Stat(image); err != nil {
		t.Fatalf("%v: run `make image` first (make test does)", err)
	}
	c := newCluster(t, cluster.Options{Nodes: 3, NoWeftd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, n := range c.Nodes[:2] {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := c.Nodes[2]
	if _, err := n.Exec("sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	legacy := false
	if _, err := exec.LookPath("iptables-legacy"); err == nil {
		// Listing creates the legacy filter table, in this node's
		// namespace only, as Docker on a legacy host would have.
		if _, err := n.Exec("iptables-legacy", "-w", "-L", "FORWARD"); err != nil {
			t.Fatal(err)
		}
		legacy = true
	} else {
		t.Log("iptables-legacy not on this machine: the legacy-host warning is not checked")
	}

	cd := startContainerd(t, n, cluster.ContainerdOptions{})
	names, err := cd.ImportImage(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	ref := ""
	for _, name := range names {
		if strings.HasPrefix(name, "ghcr.io/weft-net/weft:") {
			ref = name
		}
	}
	if ref == "" {
		t.Fatalf("imported images %v: none is ghcr.io/weft-net/weft:<tag>", names)
	}
	sc := manifestWeftdSecurity(t)
	t.Logf("image %s; weftd runs with the manifest's security context %+v", ref, sc)
	sc.Name, sc.Image = "weftd", ref
	// The entrypoint is weftd: only its flags are given, as the cluster
	// gives them to its other nodes. The node's directory holds subnet.env.
	sc.Args = n.WeftdArgs()
	sc.Mounts = map[string]string{n.Dir: n.Dir}
	hc, err := cd.RunHostContainer(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := hc.Logs()
			state, _ := hc.State(context.Background())
			t.Logf("==== weftd container (%s) ====\n%s", state, out)
		}
	})
	if err := n.WaitReady(ctx); err != nil {
		state, _ := hc.State(ctx)
		t.Fatalf("%v; container %s", err, state)
	}
	fwd := func() string {
		out, _ := n.Exec("sysctl", "-n", "net.ipv4.ip_forward")
		return strings.TrimSpace(out)
	}
	if v := fwd(); v != "1" {
		t.Errorf("net.ipv4.ip_forward %s after weftd started in the container; want 1", v)
	}
	if _, err := n.Exec("sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "weftd in the container to turn forwarding back on", func() (bool, string) {
		v := fwd()
		return v == "1", "ip_forward=" + v
	})

	pods := []*cluster.Pod{addPod(t, c.Nodes[0], "a"), addPod(t, c.Nodes[1], "a")}
	waitNetworkReady(t, cd, true)
	cp := runPod(t, cd, "a")
	pods = append(pods, cp.Pod)
	mustReach(t, pods)
	if _, err := cluster.TCPTransfer(ctx, cp.NS, pods[0].NS, pods[0].IP, 5001, 1<<20, 30*time.Second); err != nil {
		t.Errorf("%s -> %s: %v", cp, pods[0], err)
	}

	logs, err := hc.Logs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "weftd starting") {
		t.Errorf("container log has no weftd start line:\n%s", logs)
	}
	if legacy {
		if got := strings.Count(logs, legacyWarning); got != 1 {
			t.Errorf("container log has %d warnings %q, want exactly one", got, legacyWarning)
		}
	}
}

// manifestWeftdSecurity is the security context of the weftd container
// in dist/kubernetes/weft.yaml, as the CRI gets it from kubelet.
func manifestWeftdSecurity(t *testing.T) cluster.HostContainerSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "dist", "kubernetes", "weft.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		if !strings.Contains(doc, "\nkind: DaemonSet\n") {
			continue
		}
		var ds appsv1.DaemonSet
		if err := yaml.Unmarshal([]byte(doc), &ds); err != nil {
			t.Fatal(err)
		}
		for _, ctr := range ds.Spec.Template.Spec.Containers {
			if ctr.Name != "weftd" || ctr.SecurityContext == nil {
				continue
			}
			s, spec := ctr.SecurityContext, cluster.HostContainerSpec{}
			spec.Privileged = s.Privileged != nil && *s.Privileged
			spec.ReadOnlyRootFS = s.ReadOnlyRootFilesystem != nil && *s.ReadOnlyRootFilesystem
			if s.Capabilities != nil {
				for _, c := range s.Capabilities.Add {
					spec.AddCaps = append(spec.AddCaps, string(c))
				}
				for _, c := range s.Capabilities.Drop {
					spec.DropCaps = append(spec.DropCaps, string(c))
				}
			}
			return spec
		}
	}
	t.Fatal("weft.yaml: no DaemonSet container weftd with a securityContext")
	return cluster.HostContainerSpec{}
}
