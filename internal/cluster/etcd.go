// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/weft-net/weft/internal/netns"
)

// EtcdMember is one etcd process in its own namespace.
type EtcdMember struct {
	Name string
	NS   string
	IP   netip.Addr
	dir  string
	bin  string
	init string // initial-cluster string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// ClientURL is the member's client endpoint.
func (m *EtcdMember) ClientURL() string { return "http://" + net.JoinHostPort(m.IP.String(), "2379") }

func (m *EtcdMember) peerURL() string { return "http://" + net.JoinHostPort(m.IP.String(), "2380") }

func (c *Cluster) startEtcd(ctx context.Context) error {
	var peers []string
	for i := range c.opts.EtcdMembers {
		m := &EtcdMember{Name: fmt.Sprintf("etcd%d", i), IP: EtcdIP(i), bin: filepath.Join(c.opts.BinDir, "weft-demo")}
		ns, err := c.attach(m.Name, m.IP)
		if err != nil {
			return err
		}
		m.NS, m.dir = ns, filepath.Join(c.opts.Dir, m.Name)
		peers = append(peers, m.Name+"="+m.peerURL())
		c.Etcd = append(c.Etcd, m)
	}
	for _, m := range c.Etcd {
		m.init = strings.Join(peers, ",")
		if err := m.Start(); err != nil {
			return err
		}
	}
	c.opts.Logf("etcd: %d member(s) at %s", len(c.Etcd), c.EtcdEndpoints())
	return c.waitEtcd(ctx)
}

// Start runs the member's process (again, after Kill: same data, same cluster).
func (m *EtcdMember) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return fmt.Errorf("etcd %s: %w", m.Name, err)
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(m.dir), m.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", m.Name, err)
	}
	defer logf.Close()
	cmd := netns.Command(m.NS, m.bin, "etcd-server", "--name", m.Name, "--data-dir", filepath.Join(m.dir, "data"),
		"--listen-client-url", m.ClientURL(), "--listen-peer-url", m.peerURL(), "--initial-cluster", m.init)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcd %s: start: %w", m.Name, err)
	}
	m.cmd = cmd
	return nil
}

// PID returns the member's process ID (etcd itself: `ip netns exec` execs
// it in place), 0 when it is not running.
func (m *EtcdMember) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Kill stops the member at once (SIGKILL), as a crash would.
func (m *EtcdMember) Kill() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// EtcdEndpoints is the comma list of client URLs, for --etcd-endpoints.
func (c *Cluster) EtcdEndpoints() string {
	eps := make([]string, 0, len(c.Etcd))
	for _, m := range c.Etcd {
		eps = append(eps, m.ClientURL())
	}
	return strings.Join(eps, ",")
}

// Client returns an etcd client whose connections are opened inside the
// underlay namespace (the root namespace has no route to etcd). The caller
// closes it.
func (c *Cluster) Client() (*clientv3.Client, error) {
	ul := c.Underlay
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return netns.DialContext(ctx, ul, "tcp", strings.TrimPrefix(addr, "http://"))
	}
	eps := strings.Split(c.EtcdEndpoints(), ",")
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial)},
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return cl, nil
}

// The underlay namespace needs an address to reach etcd from: give the
// bridge 198.18.0.250, the node namespaces' default gateway.
func (c *Cluster) waitEtcd(ctx context.Context) error {
	if _, err := netns.Exec(c.Underlay, "ip", "addr", "add", "198.18.0.250/24", "dev", underlayBridge); err != nil {
		return fmt.Errorf("cluster: underlay address: %w", err)
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cl.Put(cctx, "/weft-cluster-probe", "ok")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cluster: etcd not serving after 60s: %w (logs in %s)", err, c.opts.Dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// PutNetConf writes the network config to <prefix>/config.
func (c *Cluster) PutNetConf(ctx context.Context, conf string) error {
	return c.Put(ctx, c.opts.Prefix+"/config", conf)
}

// Put writes one key (as etcdctl put would).
func (c *Cluster) Put(ctx context.Context, key, value string) error {
	return c.withClient(ctx, func(ctx context.Context, cl *clientv3.Client) error {
		if _, err := cl.Put(ctx, key, value); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		return nil
	})
}

// withClient runs f with a new client and a 10 s deadline, as one etcdctl
// command would.
func (c *Cluster) withClient(ctx context.Context, f func(context.Context, *clientv3.Client) error) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return f(cctx, cl)
}

// KV is one key and value as etcdctl prints them.
type KV struct{ Key, Value string }

// Get lists the keys under prefix, as `etcdctl get --prefix` would.
func (c *Cluster) Get(ctx context.Context, prefix string) ([]KV, error) {
	var out []KV
	err := c.withClient(ctx, func(ctx context.Context, cl *clientv3.Client) error {
		r, err := cl.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return fmt.Errorf("get %s: %w", prefix, err)
		}
		out = make([]KV, 0, len(r.Kvs))
		for _, kv := range r.Kvs {
			out = append(out, KV{string(kv.Key), string(kv.Value)})
		}
		return nil
	})
	return out, err
}
