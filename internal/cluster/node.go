// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// HealthzPort is where each node's weftd serves /healthz, /readyz and /metrics.
const HealthzPort = 9471

// Node is one node namespace and its weftd process.
type Node struct {
	Index int
	Name  string
	NS    string
	IP    netip.Addr
	Dir   string // subnet.env, CNI state, weftd.log
	c     *Cluster

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	pods []*Pod
}

func (c *Cluster) addNode(i int) (*Node, error) {
	n := &Node{Index: i, Name: fmt.Sprintf("node%d", i), IP: NodeIP(i), c: c}
	ns, err := c.attach(n.Name, n.IP)
	if err != nil {
		return nil, err
	}
	n.NS, n.Dir = ns, filepath.Join(c.opts.Dir, n.Name)
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	c.Nodes = append(c.Nodes, n)
	return n, nil
}

// AddNode attaches one more node (a late joiner) and, unless the cluster was
// built with NoWeftd, starts its weftd and waits until it is ready.
func (c *Cluster) AddNode(ctx context.Context) (*Node, error) {
	n, err := c.addNode(len(c.Nodes) + 1)
	if err != nil {
		return nil, err
	}
	if c.opts.NoWeftd {
		return n, nil
	}
	if err := n.StartWeftd(); err != nil {
		return nil, err
	}
	return n, n.WaitReady(ctx)
}

// SubnetFile is the node's subnet.env path.
func (n *Node) SubnetFile() string { return filepath.Join(n.Dir, "subnet.env") }

// LogFile is where the node's weftd writes its log.
func (n *Node) LogFile() string { return filepath.Join(n.Dir, "weftd.log") }

// WeftdArgs returns the command line weftd runs with on this node.
func (n *Node) WeftdArgs(extra ...string) []string {
	args := []string{
		"--etcd-endpoints", n.c.EtcdEndpoints(), "--etcd-prefix", n.c.opts.Prefix,
		"--iface", "eth0", "--subnet-file", n.SubnetFile(),
		"--healthz-ip", n.IP.String(), "--healthz-port", strconv.Itoa(HealthzPort),
		"--metrics-addr", net.JoinHostPort(n.IP.String(), strconv.Itoa(HealthzPort)),
		"--log-level", "debug",
	}
	args = append(args, n.c.opts.WeftdArgs...)
	return append(args, extra...)
}

// StartWeftd runs weftd in the node's namespace. extra flags are appended to
// the cluster's.
func (n *Node) StartWeftd(extra ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("node %s: weftd already running", n.Name)
	}
	logf, err := os.OpenFile(n.LogFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	defer logf.Close()
	cmd := netns.Command(n.NS, append([]string{filepath.Join(n.c.opts.BinDir, "weftd")}, n.WeftdArgs(extra...)...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %s: start weftd: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	return nil
}

// StopWeftd sends sig (SIGTERM for a clean stop, SIGKILL for a crash) and
// waits for weftd to exit, returning its exit code.
func (n *Node) StopWeftd(sig syscall.Signal, timeout time.Duration) (int, error) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.done = nil, nil
	n.mu.Unlock()
	if cmd == nil {
		return 0, fmt.Errorf("node %s: weftd not running", n.Name)
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return -1, fmt.Errorf("node %s: weftd did not exit within %s of %s; killed", n.Name, timeout, sig)
	}
	return cmd.ProcessState.ExitCode(), nil
}

// Exited reports whether a started weftd has exited on its own, and its code.
func (n *Node) Exited() (bool, int) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return false, 0
	}
	select {
	case <-done:
		return true, cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

func (n *Node) closeAll() {
	for _, p := range n.pods {
		p.closeNS()
	}
	_, _ = n.StopWeftd(syscall.SIGKILL, 10*time.Second)
}

// HTTPClient returns a client whose connections are opened in the node's
// namespace, for weftd's health and metrics endpoints.
func (n *Node) HTTPClient() *http.Client {
	ns := n.NS
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, ns, network, addr)
		}},
	}
}

// Get fetches a path (e.g. /readyz, /metrics) from the node's weftd.
func (n *Node) Get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+net.JoinHostPort(n.IP.String(), strconv.Itoa(HealthzPort))+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := n.HTTPClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// WaitReady waits (up to 90 s) until weftd answers /readyz with 200.
func (n *Node) WaitReady(ctx context.Context) error {
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for {
		code, body, err := n.Get(ctx, "/readyz")
		if err == nil && code == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", code, body)
		}
		if exited, code := n.Exited(); exited {
			return fmt.Errorf("node %s: weftd exited with code %d (log %s)", n.Name, code, n.LogFile())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("node %s: weftd not ready after 90s: %s (log %s)", n.Name, last, n.LogFile())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SubnetEnv reads the node's subnet.env.
func (n *Node) SubnetEnv() (subnetenv.Env, error) { return subnetenv.Read(n.SubnetFile()) }

// Subnet returns the node's leased IPv4 subnet, from its subnet.env.
func (n *Node) Subnet() (netip.Prefix, error) {
	e, err := n.SubnetEnv()
	if err != nil {
		return netip.Prefix{}, err
	}
	return e.Subnet.Masked(), nil
}

// Exec runs a command in the node's namespace.
func (n *Node) Exec(args ...string) (string, error) { return netns.Exec(n.NS, args...) }
