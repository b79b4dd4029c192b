// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"
)

// These tests drive the built plugin through libcni, as a container
// runtime does, with the reference bridge, host-local and portmap plugins
// and the conflist from dist/. Every interface lives in namespaces the
// tests create.

// testEnv is subnet.env as weftd writes it, with an MTU unlike any default.
const testEnv = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n"

var (
	testSubnet  = netip.MustParsePrefix("10.244.3.0/24")
	testGateway = netip.MustParseAddr("10.244.3.1")
)

func TestAddGivesAddressRoutesAndMTU(t *testing.T) {
	t.Parallel()
	before := rootLinks(t)
	n := newNode(t, testEnv)
	p := n.newPod(t)
	res, ip := n.mustAdd(t, p)

	if !testSubnet.Contains(ip) || ip == testGateway {
		t.Errorf("pod address %s: want a host address of %s other than the gateway", ip, testSubnet)
	}
	link := podLink(t, p.ns, "eth0")
	if link.MTU != 1400 {
		t.Errorf("pod eth0 MTU = %d, want FLANNEL_MTU 1400", link.MTU)
	}
	if got, want := link.addrs("inet"), []string{ip.String() + "/24"}; !cmp.Equal(got, want) {
		t.Errorf("pod eth0 addresses = %v, want %v", got, want)
	}
	wantRoutes := []string{"10.244.0.0/16 via 10.244.3.1", "10.244.3.0/24", "default via 10.244.3.1"}
	if diff := cmp.Diff(wantRoutes, podRoutes(t, p.ns, "eth0")); diff != "" {
		t.Errorf("pod routes (-want +got):\n%s", diff)
	}
	if got := podLink(t, n.ns, "cni0").addrs("inet"); !cmp.Equal(got, []string{"10.244.3.1/24"}) {
		t.Errorf("node cni0 addresses = %v, want the gateway 10.244.3.1/24", got)
	}
	if len(res.Interfaces) == 0 || res.Interfaces[0].Name != "cni0" {
		t.Errorf("result interfaces %v: want cni0 first (bridge's result passed through)", res.Interfaces)
	}

	// The plugins ran in the node namespace: the root namespace has no
	// bridge and no new veth.
	for name := range rootLinks(t) {
		if !before[name] && (name == "cni0" || strings.HasPrefix(name, "veth")) {
			t.Errorf("link %s appeared in the root namespace", name)
		}
	}
	if rootLinks(t)["cni0"] {
		t.Error("cni0 exists in the root namespace")
	}

	// ADD stored the delegate config and host-local recorded the owner.
	stored, err := os.ReadFile(n.statePath(p))
	if err != nil {
		t.Fatalf("stored delegate config: %v", err)
	}
	if d, err := parseDelegate(stored); err != nil || d.Type != "bridge" || d.IPAM.DataDir != n.ipamDir {
		t.Errorf("stored delegate config %s: type/ipam dataDir wrong (%v)", stored, err)
	}
	want := map[string]string{ip.String(): p.rt.ContainerID + "\r\neth0"}
	if diff := cmp.Diff(want, n.hostLocalFiles(t)); diff != "" {
		t.Errorf("host-local store (-want +got):\n%s", diff)
	}
}

func TestTwoPodsOnOneNodeReachEachOther(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	a, b := n.newPod(t), n.newPod(t)
	_, ipA := n.mustAdd(t, a)
	_, ipB := n.mustAdd(t, b)
	if ipA == ipB {
		t.Fatalf("both pods got %s", ipA)
	}
	exchangeTCP(t, a.ns, b.ns, netip.AddrPortFrom(ipB, 8080), netip.AddrPortFrom(ipB, 8080))
	exchangeTCP(t, b.ns, a.ns, netip.AddrPortFrom(ipA, 8080), netip.AddrPortFrom(ipA, 8080))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	p := n.newPod(t)
	_, ip := n.mustAdd(t, p)
	if err := n.check(t, p); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	p.ns.MustRun(t, "ip", "addr", "del", ip.String()+"/24", "dev", "eth0")
	err := n.check(t, p)
	if err == nil {
		t.Fatal("CHECK passed after the pod's address was removed")
	}
	if !strings.Contains(err.Error(), "delegate bridge CHECK") {
		t.Errorf("CHECK error %q does not say which delegate failed", err)
	}
}

func TestCheckUnknownAttachment(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	p := n.newPod(t)
	n.mustAdd(t, p)
	if err := os.Remove(n.statePath(p)); err != nil {
		t.Fatal(err)
	}
	checkCNIError(t, n.check(t, p), types.ErrUnknownContainer, "was ADD run for it?")
}

// TestDel: DEL releases the address whatever happened to weft's state or
// subnet.env since ADD, and repeating it succeeds.
func TestDel(t *testing.T) {
	tests := []struct {
		name    string
		noAdd   bool // an attachment the node never saw
		mutate  func(t *testing.T, n *node, p *pod)
		stateOK bool // the stored config is intact before DEL
	}{
		{name: "stored config", stateOK: true},
		{name: "subnet.env deleted", mutate: removeEnv, stateOK: true},
		{name: "subnet.env changed to another subnet", mutate: func(t *testing.T, n *node, _ *pod) {
			n.writeEnv(t, strings.ReplaceAll(testEnv, "10.244.3.1/24", "10.244.9.1/24"))
		}, stateOK: true},
		{name: "stored config corrupt", mutate: corruptState},
		{name: "stored config missing", mutate: removeState},
		{name: "stored config corrupt and subnet.env deleted", mutate: func(t *testing.T, n *node, p *pod) {
			corruptState(t, n, p)
			removeEnv(t, n, p)
		}},
		{name: "stored config and subnet.env deleted", mutate: func(t *testing.T, n *node, p *pod) {
			removeState(t, n, p)
			removeEnv(t, n, p)
		}},
		{name: "unknown attachment", noAdd: true},
		{name: "unknown attachment without subnet.env", noAdd: true, mutate: removeEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, testEnv)
			p := n.newPod(t)
			if !tt.noAdd {
				n.mustAdd(t, p)
				if len(n.hostLocalFiles(t)) != 1 {
					t.Fatalf("host-local store after ADD: %v", n.hostLocalFiles(t))
				}
			}
			if tt.mutate != nil {
				tt.mutate(t, n, p)
			}
			for i := range 2 {
				if err := n.del(t, p); err != nil {
					t.Fatalf("DEL #%d: %v", i+1, err)
				}
				if got := n.hostLocalFiles(t); len(got) != 0 {
					t.Errorf("DEL #%d left addresses allocated: %v", i+1, got)
				}
				if _, err := os.Stat(n.statePath(p)); !os.IsNotExist(err) {
					t.Errorf("DEL #%d left the stored config (%v)", i+1, err)
				}
				if out, _ := p.ns.Run("ip", "link", "show", "eth0"); !strings.Contains(out, "does not exist") {
					t.Errorf("DEL #%d left the pod's eth0: %s", i+1, out)
				}
			}
		})
	}
}

func removeEnv(t *testing.T, n *node, _ *pod) {
	t.Helper()
	if err := os.Remove(n.subnetFile); err != nil {
		t.Fatal(err)
	}
}

func removeState(t *testing.T, n *node, p *pod) {
	t.Helper()
	if err := os.Remove(n.statePath(p)); err != nil {
		t.Fatal(err)
	}
}

func corruptState(t *testing.T, n *node, p *pod) {
	t.Helper()
	if err := os.WriteFile(n.statePath(p), []byte(`{"cniVersion":"1.1.0","ipam":{`), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAddErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		wantCode uint
		wantMsg  string
	}{
		{"no subnet.env", "", types.ErrTryAgainLater, "not found: is weftd running on this node?"},
		{"malformed subnet.env", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=big\n",
			types.ErrInvalidNetworkConfig, `line 3 "FLANNEL_MTU=big"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, tt.env)
			_, err := n.add(t, n.newPod(t))
			checkCNIError(t, err, tt.wantCode, tt.wantMsg)
			checkCNIError(t, err, tt.wantCode, n.subnetFile)
		})
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	if err := n.status(t, n.cni); err != nil {
		t.Fatalf("STATUS with subnet.env: %v", err)
	}
	// Only weft's own directory on the path: bridge is missing.
	err := n.status(t, n.cniConfig(n.cacheDir, n.cni.Path[0]))
	checkCNIError(t, err, types.ErrPluginNotAvailable, `delegate plugin "bridge" not found in CNI_PATH`)

	removeEnv(t, n, nil)
	err = n.status(t, n.cni)
	checkCNIError(t, err, types.ErrPluginNotAvailable, "subnet file "+n.subnetFile+" not found: is weftd running on this node?")
}

// TestGC: the runtime lost track of pod b (its libcni cache is gone, as
// after a node crash): GC with only pod a valid drops b's stored config
// and its host-local address, and leaves a alone.
func TestGC(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	a, b := n.newPod(t), n.newPod(t)
	_, ipA := n.mustAdd(t, a)
	n.mustAdd(t, b)

	gcCache := t.TempDir() // no cached attachments: libcni itself DELs nothing
	gc := n.cniConfig(gcCache, n.cni.Path...)
	valid := []types.GCAttachment{{ContainerID: a.rt.ContainerID, IfName: a.rt.IfName}}
	err := n.inNode(t, func(ctx context.Context) error {
		return gc.GCNetworkList(ctx, n.list, &libcni.GCArgs{ValidAttachments: valid})
	})
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	want := map[string]string{ipA.String(): a.rt.ContainerID + "\r\neth0"}
	if diff := cmp.Diff(want, n.hostLocalFiles(t)); diff != "" {
		t.Errorf("host-local store after GC (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(n.statePath(b)); !os.IsNotExist(err) {
		t.Errorf("GC left the stale pod's stored config (%v)", err)
	}
	if _, err := os.Stat(n.statePath(a)); err != nil {
		t.Errorf("GC dropped the valid pod's stored config: %v", err)
	}
	if err := n.check(t, a); err != nil {
		t.Errorf("CHECK of the valid pod after GC: %v", err)
	}
}

// TestFlanneldDualStackSubnetEnv: a dual-stack file in flanneld's exact
// format, with FLANNEL_IPMASQ=false so bridge masquerades.
func TestFlanneldDualStackSubnetEnv(t *testing.T) {
	t.Parallel()
	n := newNode(t, "")
	disableDAD(t, n.ns)
	n.writeEnv(t, flanneldDualEnv)
	p := n.newPod(t)
	disableDAD(t, p.ns)
	res, ip := n.mustAdd(t, p)
	if !testSubnet.Contains(ip) {
		t.Errorf("pod IPv4 %s not in %s", ip, testSubnet)
	}
	v6 := netip.MustParsePrefix("fd00:10:244:3::/64")
	var got6 []string
	for _, ipc := range res.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok && a.Is6() && !a.Is4In6() && v6.Contains(a) {
			got6 = append(got6, a.String())
		}
	}
	if len(got6) != 1 {
		t.Fatalf("result IPs %v: want one address in %s", res.IPs, v6)
	}
	if got := podLink(t, p.ns, "eth0"); got.MTU != 1450 || !contains(got.addrs("inet6"), got6[0]+"/64") {
		t.Errorf("pod eth0: MTU %d, inet6 %v; want 1450 and %s/64", got.MTU, got.addrs("inet6"), got6[0])
	}
	routes6 := strings.Join(podRoutes6(t, p.ns), "\n")
	if !strings.Contains(routes6, "fd00:10:244::/48 via fd00:10:244:3::1") {
		t.Errorf("pod IPv6 routes lack the pod network:\n%s", routes6)
	}
	nat := n.ns.MustRun(t, "iptables-save", "-t", "nat")
	if !strings.Contains(nat, p.rt.ContainerID) {
		t.Errorf("FLANNEL_IPMASQ=false: no masquerade rule for the pod in the node's nat table:\n%s", nat)
	}
	if err := n.del(t, p); err != nil {
		t.Fatal(err)
	}
	if nat := n.ns.MustRun(t, "iptables-save", "-t", "nat"); strings.Contains(nat, p.rt.ContainerID) {
		t.Errorf("DEL left the masquerade rule:\n%s", nat)
	}
	if got := n.hostLocalFiles(t); len(got) != 0 {
		t.Errorf("DEL left addresses allocated: %v", got)
	}
}

// TestPortmapChained: the runtime's portMappings reach portmap after weft
// (prevResult and runtimeConfig flow through the chain).
func TestPortmapChained(t *testing.T) {
	t.Parallel()
	n := newNode(t, testEnv)
	p := n.newPod(t)
	p.rt.CapabilityArgs = map[string]any{
		"portMappings": []map[string]any{{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}},
	}
	n.mustAdd(t, p)
	// From the node itself, to its own address on the host port.
	exchangeTCP(t, n.ns, p.ns, netip.AddrPortFrom(netip.IPv4Unspecified(), 8080), netip.AddrPortFrom(testGateway, 18080))
	if err := n.del(t, p); err != nil {
		t.Fatal(err)
	}
}
