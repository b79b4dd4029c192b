// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

const dualStackConf = `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`

// Dual stack end to end: both devices, both families in the lease and in
// subnet.env, and pods reaching each other over IPv4 and IPv6 across nodes.
func TestDualStack(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2, DualStack: true, NetConf: dualStackConf})
	for _, n := range c.Nodes {
		env, err := n.SubnetEnv()
		if err != nil {
			t.Fatal(err)
		}
		if !env.IPv6Subnet.IsValid() || env.IPv6Network.String() != "fd00:10:244::/48" || env.IPv6Subnet.Bits() != 64 {
			t.Errorf("%s: subnet.env without the IPv6 lines: %+v", n.Name, env)
		}
		// The pods' MTU must fit the larger IPv6 encapsulation.
		if env.MTU != 1430 {
			t.Errorf("%s: FLANNEL_MTU %d, want 1430 (1500 - 70)", n.Name, env.MTU)
		}
		if out, err := n.Exec("ip", "-d", "link", "show", "flannel-v6.1"); err != nil || !strings.Contains(out, "vxlan id 1") {
			t.Errorf("%s: no flannel-v6.1 device: %v %s", n.Name, err, out)
		}
	}
	kvs, err := c.Get(context.Background(), c.Prefix()+"/subnets/")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if !strings.Contains(kv.Key, "&fd00:10:244:") {
			t.Errorf("lease key %s has no IPv6 part", kv.Key)
		}
		var a subnet.LeaseAttrs
		if err := json.Unmarshal([]byte(kv.Value), &a); err != nil || !a.PublicIPv6.IsValid() || len(a.BackendV6Data) == 0 {
			t.Errorf("lease value %s lacks PublicIPv6/BackendV6Data (%v)", kv.Value, err)
		}
	}
	pods := addPods(t, c, 1)
	a, b := pods[0], pods[1]
	if !a.IPv6.IsValid() || !b.IPv6.IsValid() {
		t.Fatalf("pods without IPv6 addresses: %v %v", a.IPv6, b.IPv6)
	}
	mustReach(t, pods)
	for _, pair := range [][2]*cluster.Pod{{a, b}, {b, a}} {
		src, dst := pair[0], pair[1]
		waitFor(t, 30*time.Second, "IPv6 TCP "+src.String()+" -> "+dst.IPv6.String(), func() (bool, string) {
			_, err := cluster.TCPTransfer(context.Background(), src.NS, dst.NS, dst.IPv6, 5002, 1<<20, 10*time.Second)
			return err == nil, ""
		})
	}
}
