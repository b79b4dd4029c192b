// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	vnetns "github.com/vishvananda/netns"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/internal/netns"
)

// This file holds what the fault scenarios (internal/chaos) need beyond the
// e2e tests: the etcd members' processes, leader, traffic and maintenance,
// a node's kernel tables read from outside weftd, and a node reboot.

// TxBytes is how many bytes the member's namespace sent on its underlay
// interface (eth0): what etcd sent to clients and to its peers.
func (m *EtcdMember) TxBytes() (uint64, error) { return NetDevTxBytes(m.NS, "eth0") }

// NetDevTxBytes reads an interface's transmitted bytes inside namespace ns.
// /proc/thread-self/net shows the reading thread's namespace (sysfs would
// show the namespace it was mounted in).
func NetDevTxBytes(ns, dev string) (uint64, error) {
	var b []byte
	if err := netns.Do(ns, func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	}); err != nil {
		return 0, fmt.Errorf("read net/dev in %s: %w", ns, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != dev {
			continue
		}
		// Receive: bytes packets errs drop fifo frame compressed multicast;
		// then transmit bytes.
		f := strings.Fields(rest)
		if len(f) < 9 {
			break
		}
		n, err := strconv.ParseUint(f[8], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("net/dev %s in %s: %w", dev, ns, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("net/dev in %s: no interface %s", ns, dev)
}

// EtcdLeader asks every running member for its status and returns the
// member the cluster elected leader.
func (c *Cluster) EtcdLeader(ctx context.Context) (*EtcdMember, error) {
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var errs []error
	for _, m := range c.Etcd {
		if m.PID() == 0 {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := cl.Status(sctx, m.ClientURL())
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("status of %s: %w", m.Name, err))
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return m, nil
		}
	}
	return nil, fmt.Errorf("etcd: no leader among the running members: %w", errors.Join(errs...))
}

// CompactAndDefrag compacts etcd's history up to its current revision
// (physically, as an operator's `etcdctl compact --physical` does) and
// then defragments each member in turn. It returns the revision compacted
// to.
func (c *Cluster) CompactAndDefrag(ctx context.Context) (int64, error) {
	cl, err := c.Client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	r, err := cl.Get(ctx, c.opts.Prefix+"/config")
	if err != nil {
		return 0, fmt.Errorf("etcd revision: %w", err)
	}
	rev := r.Header.Revision
	if _, err := cl.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return 0, fmt.Errorf("compact to %d: %w", rev, err)
	}
	for _, m := range c.Etcd {
		if _, err := cl.Defragment(ctx, m.ClientURL()); err != nil {
			return rev, fmt.Errorf("defragment %s: %w", m.Name, err)
		}
	}
	return rev, nil
}

// Dataplane opens netlink in the node's namespace, to read the kernel
// tables weftd programs as `weftctl doctor --netns` does. The caller
// closes it.
func (n *Node) Dataplane() (*netlinkdp.Dataplane, error) {
	h, err := vnetns.GetFromName(n.NS)
	if err != nil {
		return nil, fmt.Errorf("node %s: open netns: %w", n.Name, err)
	}
	defer h.Close()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	dp, err := netlinkdp.New(h, log)
	if err != nil {
		return nil, fmt.Errorf("node %s: open netlink: %w", n.Name, err)
	}
	return dp, nil
}

// Reboot power-cycles the node: weftd is killed, the node's namespace and
// its pods' namespaces are deleted (every device, route and neighbour with
// them) and the namespace is rebuilt on the underlay with the same name
// and address. The node's directory (subnet.env, logs, CNI state) is kept,
// as a disk survives a reboot. weftd is not restarted and the pods are
// gone: the caller starts weftd and adds pods again.
func (n *Node) Reboot() error {
	_, _ = n.StopWeftd(syscall.SIGKILL, 10*time.Second)
	n.mu.Lock()
	pods := n.pods
	n.pods = nil
	n.mu.Unlock()
	for _, p := range pods {
		p.closeNS()
	}
	c := n.c
	// Deleting the bridge-side end removes the pair at once; a deleted
	// namespace's devices go later, in the kernel's cleanup work, and the
	// name would still be taken when the node is attached again.
	if _, err := netns.Exec(c.Underlay, "ip", "link", "del", "v-"+n.Name); err != nil {
		return fmt.Errorf("node %s: reboot: %w", n.Name, err)
	}
	if err := netns.Delete(n.NS); err != nil {
		return fmt.Errorf("node %s: reboot: %w", n.Name, err)
	}
	c.forgetNS(n.NS)
	ns, err := c.attach(n.Name, n.IP)
	if err != nil {
		return fmt.Errorf("node %s: reboot: %w", n.Name, err)
	}
	n.NS = ns
	return nil
}

// Delete removes one key (as etcdctl del would); a missing key is no error.
func (c *Cluster) Delete(ctx context.Context, key string) error {
	return c.withClient(ctx, func(ctx context.Context, cl *clientv3.Client) error {
		if _, err := cl.Delete(ctx, key); err != nil {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		return nil
	})
}
