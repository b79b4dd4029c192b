// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/subnet"
)

// This file holds what the cluster benchmarks need beyond the e2e tests:
// writing many simulated peer leases fast, the weftd process's CPU time and
// memory, CNI calls timed without the namespace set-up around them, and a
// time-bounded TCP stream.

// maxTxnOps is how many puts go into one transaction (etcd's default limit
// is 128 operations per transaction).
const maxTxnOps = 100

// LeaseWriter writes simulated peer leases straight into etcd, in flannel's
// format, all bound to one etcd lease (as many nodes' keys would be). Build
// it with Cluster.NewLeaseWriter; the zero value is not usable. Its methods
// are safe for concurrent use.
type LeaseWriter struct {
	cl     *clientv3.Client
	prefix string
	id     clientv3.LeaseID
}

// NewLeaseWriter opens a client and grants the etcd lease (TTL ttl) the
// written keys are bound to. The caller closes it.
func (c *Cluster) NewLeaseWriter(ctx context.Context, ttl time.Duration) (*LeaseWriter, error) {
	return c.NewLeaseWriterUnder(ctx, c.opts.Prefix, ttl)
}

// NewLeaseWriterUnder is NewLeaseWriter for the leases under another etcd
// prefix (<prefix>/subnets/), one no daemon watches.
func (c *Cluster) NewLeaseWriterUnder(ctx context.Context, prefix string, ttl time.Duration) (*LeaseWriter, error) {
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	g, err := cl.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("grant etcd lease for peer keys: %w", err)
	}
	return &LeaseWriter{cl: cl, prefix: prefix + "/subnets/", id: g.ID}, nil
}

// Key returns the etcd key of a lease.
func (w *LeaseWriter) Key(l subnet.Lease) string { return w.prefix + l.Key() }

func (w *LeaseWriter) put(l subnet.Lease) (clientv3.Op, error) {
	v, err := l.Attrs.MarshalJSON()
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("encode lease %s: %w", l.Key(), err)
	}
	return clientv3.OpPut(w.Key(l), string(v), clientv3.WithLease(w.id)), nil
}

// PutAll writes leases in transactions of up to 100 puts each.
func (w *LeaseWriter) PutAll(ctx context.Context, leases []subnet.Lease) error {
	for start := 0; start < len(leases); start += maxTxnOps {
		batch := leases[start:min(start+maxTxnOps, len(leases))]
		ops := make([]clientv3.Op, 0, len(batch))
		for _, l := range batch {
			op, err := w.put(l)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		if _, err := w.cl.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("write leases %s..%s: %w", batch[0].Key(), batch[len(batch)-1].Key(), err)
		}
	}
	return nil
}

// Put writes one lease (a join, or a change of an existing one).
func (w *LeaseWriter) Put(ctx context.Context, l subnet.Lease) error {
	_, err := w.PutRev(ctx, l)
	return err
}

// PutRev is Put that also returns the revision the write made.
func (w *LeaseWriter) PutRev(ctx context.Context, l subnet.Lease) (int64, error) {
	op, err := w.put(l)
	if err != nil {
		return 0, err
	}
	r, err := w.cl.Do(ctx, op)
	if err != nil {
		return 0, fmt.Errorf("write lease %s: %w", l.Key(), err)
	}
	return r.Put().Header.Revision, nil
}

// Delete removes one lease key (a node leaving).
func (w *LeaseWriter) Delete(ctx context.Context, l subnet.Lease) error {
	if _, err := w.cl.Delete(ctx, w.Key(l)); err != nil {
		return fmt.Errorf("delete lease %s: %w", l.Key(), err)
	}
	return nil
}

// Leases lists the subnets and values stored under the prefix, the truth a
// node's kernel must converge to.
func (w *LeaseWriter) Leases(ctx context.Context) ([]subnet.Lease, error) {
	r, err := w.cl.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list leases under %s: %w", w.prefix, err)
	}
	out := make([]subnet.Lease, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		sn, sn6, err := subnet.ParseSubnetKey(strings.TrimPrefix(string(kv.Key), w.prefix))
		if err != nil {
			return nil, err
		}
		l := subnet.Lease{Subnet: sn, IPv6Subnet: sn6, LeaseID: kv.Lease, ModRevision: kv.ModRevision}
		if err := l.Attrs.UnmarshalJSON(kv.Value); err != nil {
			return nil, fmt.Errorf("lease %s: %w", kv.Key, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// Close closes the client; the keys stay until their etcd lease expires.
func (w *LeaseWriter) Close() error { return w.cl.Close() }

// ProcStats is what the kernel accounts for one process.
type ProcStats struct {
	CPU     time.Duration // user + system time
	RSS     uint64        // resident set size now, bytes
	PeakRSS uint64        // high-water mark of the RSS (VmHWM), bytes
}

// userHZ is the unit of the times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture weft runs on).
const userHZ = 100

// WeftdPID returns the process ID of the node's weftd, 0 when not running.
// `ip netns exec` execs weftd in place, so the started process is weftd.
func (n *Node) WeftdPID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// WeftdStats reads the CPU time and memory of the node's weftd from /proc.
func (n *Node) WeftdStats() (ProcStats, error) {
	pid := n.WeftdPID()
	if pid == 0 {
		return ProcStats{}, fmt.Errorf("node %s: weftd not running", n.Name)
	}
	return ReadProcStats(pid)
}

// ReadProcStats reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProcStats(pid int) (ProcStats, error) {
	var s ProcStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name may hold spaces: the fields start after its ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: bad utime %q or stime %q", pid, f[11], f[12])
	}
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status: %s %q: %w", pid, k, v, err)
		}
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.PeakRSS = kb << 10
		}
	}
	return s, nil
}

// NewPodNS creates a pod's namespace without running CNI, so that a
// benchmark can time AddTimed alone.
func (n *Node) NewPodNS(name string) (*Pod, error) {
	ns, err := n.c.newNS(n.Name + "-" + name)
	if err != nil {
		return nil, err
	}
	p := &Pod{Name: name, NS: ns, Node: n, containerID: "weft-" + n.c.id + "-" + n.Name + "-" + name}
	n.mu.Lock()
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	return p, nil
}

// CNIConfList returns the node's conflist (host paths in the node's dir),
// to load once for many AddTimed and DelTimed calls.
func (n *Node) CNIConfList() (*libcni.NetworkConfigList, error) { return n.confList() }

// AddTimed runs CNI ADD for a pod made by NewPodNS and returns how long the
// libcni call took.
func (p *Pod) AddTimed(ctx context.Context, list *libcni.NetworkConfigList) (time.Duration, error) {
	n := p.Node
	var took time.Duration
	err := netns.Do(n.NS, func() error {
		start := time.Now()
		_, err := n.cni().AddNetworkList(ctx, list, p.runtimeConf())
		took = time.Since(start)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("node %s: CNI ADD pod %s: %w", n.Name, p.Name, err)
	}
	return took, nil
}

// DelTimed runs CNI DEL for the pod, returns how long the libcni call
// took, and removes the pod's namespace (as Delete does).
func (p *Pod) DelTimed(ctx context.Context, list *libcni.NetworkConfigList) (time.Duration, error) {
	n := p.Node
	var took time.Duration
	err := netns.Do(n.NS, func() error {
		start := time.Now()
		err := n.cni().DelNetworkList(ctx, list, p.runtimeConf())
		took = time.Since(start)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("node %s: CNI DEL pod %s: %w", n.Name, p.Name, err)
	}
	p.closeNS()
	return took, nil
}

// streamChunk is the size of each write of TCPStream.
const streamChunk = 256 << 10

// TCPStream sends over one TCP connection from namespace srcNS to dst (a
// listener opened in dstNS on dst:port) for the duration d, and returns the
// throughput the receiver saw, in bytes per second.
func TCPStream(ctx context.Context, srcNS, dstNS string, dst netip.Addr, port uint16, d time.Duration) (float64, error) {
	addr := netip.AddrPortFrom(dst, port).String()
	conn, got, err := openTCP(ctx, srcNS, dstNS, addr, 10*time.Second, d+30*time.Second, false)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, streamChunk)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	start := time.Now()
	_ = conn.SetWriteDeadline(start.Add(d + 30*time.Second))
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := conn.Write(buf); err != nil {
			conn.Close()
			return 0, fmt.Errorf("tcp send to %s: %w", addr, err)
		}
	}
	_ = conn.Close()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil {
		return 0, fmt.Errorf("tcp receive at %s: %w", addr, r.err)
	}
	return float64(r.n) / elapsed.Seconds(), nil
}

// PeerLease is simulated peer i: the i-th /24 subnet from first, a fake
// public IP in 198.19.0.0/16 and a VTEP MAC unique per (i, gen), so that a
// peer re-joining with a new generation changes its entries. Its value is
// what a flanneld or weftd vxlan node writes.
func PeerLease(first netip.Addr, i, gen int) subnet.Lease {
	mac := subnet.MAC{0x0e, 0x57, byte(gen), byte(i >> 16), byte(i >> 8), byte(i)}
	data := fmt.Sprintf(`{"VNI":1,"VtepMAC":%q}`, mac.String())
	return subnet.Lease{
		Subnet: subnet.NthSubnet(first, 24, uint64(i)),
		Attrs: subnet.LeaseAttrs{
			PublicIP:    netip.AddrFrom4([4]byte{198, 19, byte(i / 250), byte(i%250 + 1)}),
			BackendType: "vxlan",
			BackendData: []byte(data),
		},
	}
}
