// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// One 3-node cluster walks through an operator's day: traffic, a restart, a
// late joiner, a clean departure.
func TestClusterLifecycle(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 3})
	pods := addPods(t, c, 2)

	t.Run("all pairs reach each other", func(t *testing.T) {
		mustReach(t, pods)
	})

	t.Run("4 MiB TCP transfers across nodes", func(t *testing.T) {
		// A wrong MTU shows here as a stall or a short transfer, not in a ping.
		for i, a := range pods {
			b := pods[(i+2)%len(pods)] // a pod on another node
			if a.Node == b.Node {
				continue
			}
			if _, err := cluster.TCPTransfer(context.Background(), a.NS, b.NS, b.IP, 5001, 4<<20, 30*time.Second); err != nil {
				t.Errorf("%s -> %s: %v", a, b, err)
			}
		}
	})

	t.Run("restart keeps the subnet and reachability", func(t *testing.T) {
		n := c.Nodes[0]
		before := subnetOf(t, n)
		if code, err := n.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil || code != 0 {
			t.Fatalf("SIGTERM: exit %d, %v", code, err)
		}
		// Stopped, not released: peers keep the node's routes and pods keep working.
		mustReach(t, pods)
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if after := subnetOf(t, n); after != before {
			t.Errorf("subnet after restart %s, want %s", after, before)
		}
		mustReach(t, pods)
	})

	t.Run("late joiner is reachable from all", func(t *testing.T) {
		n, err := c.AddNode(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p := addPod(t, n, "late")
		pods = append(pods, p)
		waitFor(t, 30*time.Second, "late pod reachable", func() (bool, string) {
			for _, a := range pods[:len(pods)-1] {
				if _, err := cluster.Ping(a.NS, p.IP, 2, time.Second); err != nil {
					return false, err.Error()
				}
			}
			return true, ""
		})
		mustReach(t, pods)
	})

	t.Run("release-on-exit removes the node everywhere", func(t *testing.T) {
		n := c.Nodes[len(c.Nodes)-1]
		sn := subnetOf(t, n)
		if _, err := n.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := n.StartWeftd("--release-on-exit"); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if code, err := n.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil || code != 0 {
			t.Fatalf("SIGTERM: exit %d, %v", code, err)
		}
		for _, o := range c.Nodes[:len(c.Nodes)-1] {
			waitFor(t, 30*time.Second, o.Name+" drops the route to "+sn.String(), func() (bool, string) {
				return !routesTo(o, sn), ""
			})
		}
		kvs, err := c.Get(context.Background(), c.Prefix()+"/subnets/")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if strings.Contains(kv.Key, sn.Addr().String()+"-") {
				t.Errorf("released lease still in etcd: %s", kv.Key)
			}
		}
		if out, err := n.Exec("ip", "link", "show", "flannel.1"); err == nil {
			t.Errorf("device left behind after --release-on-exit: %s", out)
		}
	})
}

// A node that dies without releasing is dropped everywhere once its lease's
// TTL runs out.
func TestDeadNodeExpires(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 3, WeftdArgs: []string{"--subnet-lease-ttl", "10s"}})
	dead := c.Nodes[2]
	sn := subnetOf(t, dead)
	for _, n := range c.Nodes[:2] {
		waitFor(t, 30*time.Second, n.Name+" routes "+sn.String(), func() (bool, string) { return routesTo(n, sn), "" })
	}
	if _, err := dead.StopWeftd(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes[:2] {
		waitFor(t, 60*time.Second, n.Name+" drops "+sn.String(), func() (bool, string) { return !routesTo(n, sn), "" })
	}
}

// With three etcd members, losing one costs nothing; with etcd entirely
// gone for 20 s, pods keep talking and the cluster catches up afterwards.
func TestEtcdTrouble(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2, EtcdMembers: 3})
	pods := addPods(t, c, 1)
	mustReach(t, pods)

	t.Run("one member killed", func(t *testing.T) {
		c.Etcd[0].Kill()
		mustReach(t, pods)
		n, err := c.AddNode(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, addPod(t, n, "p1"))
		waitFor(t, 30*time.Second, "new node reachable", func() (bool, string) {
			_, err := cluster.Ping(pods[0].NS, pods[len(pods)-1].IP, 2, time.Second)
			return err == nil, ""
		})
		if err := c.Etcd[0].Start(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("etcd down for 20 s", func(t *testing.T) {
		for _, m := range c.Etcd {
			m.Kill()
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mustReach(t, pods)
			time.Sleep(2 * time.Second)
		}
		for _, m := range c.Etcd {
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
		}
		// State resyncs: a node that joins after the outage is programmed everywhere.
		n, err := c.AddNode(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sn := subnetOf(t, n)
		for _, o := range c.Nodes[:len(c.Nodes)-1] {
			waitFor(t, 60*time.Second, o.Name+" routes "+sn.String(), func() (bool, string) { return routesTo(o, sn), "" })
		}
		for _, o := range c.Nodes {
			if exited, code := o.Exited(); exited {
				t.Errorf("%s: weftd exited (%d) during the outage", o.Name, code)
			}
		}
	})
}

// Forwarding works on a host whose FORWARD policy is DROP (as Docker sets
// it): weftd's --iptables-forward-rules opens the pod network.
func TestForwardDropPolicy(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2, NoWeftd: true})
	for _, n := range c.Nodes {
		if _, err := n.Exec("iptables", "-P", "FORWARD", "DROP"); err != nil {
			t.Fatal(err)
		}
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pods := addPods(t, c, 1)
	mustReach(t, pods)
}
